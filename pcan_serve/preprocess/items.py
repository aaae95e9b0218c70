"""Which items a run covers (`pcan predict`, int8 calibration): videos, sidecar skeletons, manifests, shards."""

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import InvalidManifest
from .sources import sidecar

VIDEO_SUFFIXES = (".avi", ".mp4", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg")


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
    """The videos (folders expanded) with ``skeleton`` for a single video, else each one's sidecar."""
    files = _expand(videos)
    if skeleton is not None and len(files) != 1:
        raise InvalidManifest(f"one skeleton file was given for {len(files)} videos; give each its sidecar")
    items = []
    for v in files:
        s = skeleton if skeleton is not None else sidecar(v)
        items.append(Item(str(v), str(s) if s.exists() else None))
    return items


def from_manifest(path: Path) -> list[Item]:
    """CSV with a header (video, skeleton[, label]) or JSONL objects; paths relative to the manifest."""
    if not path.exists():
        raise InvalidManifest(f"manifest not found: {path}")
    base = path.parent
    rows: list[dict] = []
    if path.suffix.lower() == ".jsonl":
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise InvalidManifest(f"{path.name} line {n} is not JSON: {exc.msg}") from None
    elif path.suffix.lower() == ".csv":
        with path.open(newline="") as f:
            rows = list(csv.DictReader(f))
    else:
        raise InvalidManifest(f"manifest must be .csv or .jsonl, got {path.name}")
    items = []
    for n, row in enumerate(rows, 1):
        if not isinstance(row, dict) or not row.get("video"):
            raise InvalidManifest(f"{path.name} row {n} has no 'video' column")
        video = base / str(row["video"])
        skel = row.get("skeleton")
        skel_path = base / str(skel) if skel else sidecar(video)
        items.append(Item(str(video), str(skel_path) if skel or skel_path.exists() else None))
    return items


def select(items: list[Item], shard: tuple[int, int] | None, done: set[str]) -> list[Item]:
    """Every n-th item from i (``shard`` = (i, n)), less those already ``done``."""
    if shard is not None:
        i, n = shard
        items = [it for k, it in enumerate(items) if k % n == i]
    return [it for it in items if it.video not in done]
