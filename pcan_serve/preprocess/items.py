"""Which items a run covers (`pcan predict`, int8 calibration): videos, sidecar skeletons, manifests, shards.

A manifest is read from its file on every pass, never held whole (a 100k-row manifest read into a list of dicts
took 477 MiB): the items of a run are a re-iterable with a length, and memory stays flat in the number of rows.
"""

import csv
import json
from collections.abc import Iterable, Iterator, Sized
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import IO, Any

from ..errors import InvalidManifest
from .sources import sidecar

VIDEO_SUFFIXES = (".avi", ".mp4", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg")
MANIFEST_SUFFIXES = (".csv", ".jsonl")


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


class Manifest:
    """CSV with a header (video, skeleton[, label]) or JSONL objects; paths relative to the manifest's folder.

    Made, it has read the file once through, only counting and checking rows, so a malformed manifest stops the
    command (exit 2) before any item runs; each iteration reads the file again, one row at a time.
    """

    def __init__(self, path: Path) -> None:
        if not path.exists():
            raise InvalidManifest(f"manifest not found: {path}")
        if path.suffix.lower() not in MANIFEST_SUFFIXES:
            raise InvalidManifest(f"manifest must be .csv or .jsonl, got {path.name}")
        self.path = path
        self._count = sum(1 for _ in self._rows())

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[Item]:
        base = self.path.parent
        for row in self._rows():
            video = base / str(row["video"])
            skel = row.get("skeleton")
            skel_path = base / str(skel) if skel else sidecar(video)
            yield Item(str(video), str(skel_path) if skel or skel_path.exists() else None)

    def _rows(self) -> Iterator[dict[str, Any]]:
        name = self.path.name
        with self.path.open(newline="") as f:
            rows = _jsonl(f, name) if self.path.suffix.lower() == ".jsonl" else csv.DictReader(f)
            try:
                for n, row in enumerate(rows, 1):
                    if not isinstance(row, dict) or not row.get("video"):
                        raise InvalidManifest(f"{name} row {n} has no 'video' column")
                    yield row
            except (csv.Error, UnicodeDecodeError) as exc:
                raise InvalidManifest(f"{name} cannot be read: {exc}") from None


def _jsonl(f: IO[str], name: str) -> Iterator[Any]:
    for n, line in enumerate(f, 1):
        if line.strip():
            try:
                yield json.loads(line)
            except json.JSONDecodeError as exc:
                raise InvalidManifest(f"{name} line {n} is not JSON: {exc.msg}") from None


def from_manifest(path: Path) -> Manifest:
    """The manifest's items, checked now and read lazily (see :class:`Manifest`)."""
    return Manifest(path)


class Selection:
    """Every n-th item from i (``shard`` = (i, n)), less those already ``done``; lazy over ``items``, which must
    be re-iterable (a list, a Manifest). Its length (progress bar, resume line) is counted once: by arithmetic,
    or with ``done`` items to skip, by one more pass."""

    def __init__(self, items: Iterable[Item], shard: tuple[int, int] | None, done: set[str]) -> None:
        self.items, self.shard, self.done = items, shard or (0, 1), done

    def __iter__(self) -> Iterator[Item]:
        i, n = self.shard
        return (it for k, it in enumerate(self.items) if k % n == i and it.video not in self.done)

    @cached_property
    def count(self) -> int:
        i, n = self.shard
        if not self.done and isinstance(self.items, Sized):
            return len(range(i, len(self.items), n))
        return sum(1 for _ in self)

    def __len__(self) -> int:
        return self.count


def select(items: Iterable[Item], shard: tuple[int, int] | None, done: set[str]) -> Selection:
    """The items of a run: see :class:`Selection`."""
    return Selection(items, shard, done)
