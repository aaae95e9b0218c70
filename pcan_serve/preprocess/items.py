"""Which items a run covers (`pcan predict`, int8 calibration): videos, sidecar skeletons, manifests, shards."""

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from .sources import sidecar

VIDEO_SUFFIXES = (".avi", ".mp4", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg")


class UsageError(Exception):
    """A mistake in the command line or manifest itself (exit code 2), not in one item."""


@dataclass(frozen=True)
class Item:
    video: str
    skeleton: str | None  # None: no skeleton could be found; the item fails with MissingInput


def _expand(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out += sorted(f for f in p.iterdir() if f.suffix.lower() in VIDEO_SUFFIXES)
        else:
            out.append(p)
    return out


def from_videos(videos: list[Path], skeleton: Path | None) -> list[Item]:
    files = _expand(videos)
    if skeleton is not None and len(files) != 1:
        raise UsageError("--skeleton names the skeleton of one video; for many videos use sidecars or --manifest")
    items = []
    for v in files:
        s = skeleton if skeleton is not None else sidecar(v)
        items.append(Item(str(v), str(s) if s.exists() else None))
    return items


def from_manifest(path: Path) -> list[Item]:
    """CSV with a header (video, skeleton[, label]) or JSONL objects; paths relative to the manifest."""
    if not path.exists():
        raise UsageError(f"manifest not found: {path}")
    base = path.parent
    rows: list[dict] = []
    if path.suffix.lower() == ".jsonl":
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise UsageError(f"{path.name} line {n} is not JSON: {exc.msg}") from None
    elif path.suffix.lower() == ".csv":
        with path.open(newline="") as f:
            rows = list(csv.DictReader(f))
    else:
        raise UsageError(f"manifest must be .csv or .jsonl, got {path.name}")
    items = []
    for n, row in enumerate(rows, 1):
        if not isinstance(row, dict) or not row.get("video"):
            raise UsageError(f"{path.name} row {n} has no 'video' column")
        video = base / str(row["video"])
        skel = row.get("skeleton")
        skel_path = base / str(skel) if skel else sidecar(video)
        items.append(Item(str(video), str(skel_path) if skel or skel_path.exists() else None))
    return items


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``i/n`` with 0 <= i < n: this machine takes every n-th item starting at i."""
    if text is None:
        return None
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise UsageError(f"--shard must look like i/n (e.g. 0/4), got {text!r}") from None
    if n < 1 or not 0 <= i < n:
        raise UsageError(f"--shard {text}: need 0 <= i < n")
    return i, n


def select(items: list[Item], shard: tuple[int, int] | None, done: set[str]) -> list[Item]:
    if shard is not None:
        i, n = shard
        items = [it for k, it in enumerate(items) if k % n == i]
    return [it for it in items if it.video not in done]
