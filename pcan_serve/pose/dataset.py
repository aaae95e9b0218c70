"""Training data from your own videos: a folder of videos + a labels CSV -> an mmaction2 ``PoseDataset``
annotation file, laid out as ``pcan train`` reads NTU-60 (``training/datasets.py``, mmaction2 layout).

``DATA_ROOT/ntu60_2d.pkl`` holds ``{"split": {"xsub_train": [...], "xsub_val": [...]}, "annotations": [...]}``
(the split names ``training/configs/pcan_ntu60.py`` reads), one annotation per video: ``frame_dir`` (the video's
path in the folder without its suffix), ``filename`` (its path in the folder; the split lists hold these, as
mmaction2 identifies items by ``filename`` when annotations have one), ``label``, ``img_shape`` and
``original_shape`` (height, width of the decoded frames, which the keypoints' pixels refer to), ``total_frames``,
``keypoint`` float32 [M, T, 17, 2] and ``keypoint_score`` float32 [M, T, 17]. The videos are read from
``DATA_ROOT/nturgbd_videos/``: a link to the videos folder is made there when it is elsewhere.

Pickle is written here for mmaction2's training side only; pcan never unpickles an upload.
"""

import csv
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .estimate import PoseResult

SPLITS = {"train": "xsub_train", "val": "xsub_val"}
VIDEO_DIR = "nturgbd_videos"
DEFAULT_ANN = "ntu60_2d.pkl"


class LabelsError(ValueError):
    """The labels file or the folder does not fit (a usage error)."""


@dataclass(frozen=True)
class Entry:
    video: Path  # absolute
    filename: str  # relative to the videos folder, "/"-separated
    label: int
    split: str | None  # train | val | None (assigned by assign_splits)


def read_labels(path: Path, videos_dir: Path) -> list[Entry]:
    """Rows ``video,label[,split]``: a path relative to ``videos_dir``, an integer class, train|val."""
    if not path.is_file():
        raise LabelsError(f"labels file not found: {path}")
    root = videos_dir.resolve()
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        columns = set(reader.fieldnames or [])
        if not {"video", "label"} <= columns:
            raise LabelsError(f"{path.name}: expected a header with the columns video,label[,split], got {columns}")
        entries, seen = [], set()
        for line, row in enumerate(reader, start=2):
            name, label, split = (row.get("video") or "").strip(), (row.get("label") or "").strip(), row.get("split")
            video = (root / name).resolve()
            if not name or not video.is_relative_to(root):
                raise LabelsError(f"{path.name}:{line}: video {name!r} is not a path inside {videos_dir}")
            if not label.isdigit():
                raise LabelsError(f"{path.name}:{line}: label {label!r} is not a non-negative integer")
            split = (split or "").strip() or None
            if split is not None and split not in SPLITS:
                raise LabelsError(f"{path.name}:{line}: split {split!r}: expected train or val")
            filename = video.relative_to(root).as_posix()
            if filename in seen:
                raise LabelsError(f"{path.name}:{line}: {filename} is listed twice")
            seen.add(filename)
            entries.append(Entry(video, filename, int(label), split))
    if not entries:
        raise LabelsError(f"{path.name}: no rows")
    return entries


def assign_splits(entries: list[Entry], val_fraction: float, seed: int = 0) -> list[Entry]:
    """Rows without a split: per class, ``val_fraction`` of its videos (seeded draw, at least one when the
    class has two or more) go to val, the rest to train."""
    out = {e.filename: e for e in entries}
    by_label: dict[int, list[Entry]] = {}
    for e in entries:
        if e.split is None:
            by_label.setdefault(e.label, []).append(e)
    rng = np.random.default_rng(seed)
    for label in sorted(by_label):
        group = sorted(by_label[label], key=lambda e: e.filename)
        n_val = 0 if len(group) < 2 or val_fraction <= 0 else max(1, round(len(group) * val_fraction))
        val = set(rng.permutation(len(group))[:n_val].tolist())
        for i, e in enumerate(group):
            out[e.filename] = Entry(e.video, e.filename, e.label, "val" if i in val else "train")
    return [out[e.filename] for e in entries]


def annotation(entry: Entry, result: PoseResult) -> dict[str, Any]:
    s = result.skeleton
    shape = tuple(int(v) for v in s["img_shape"])
    return {
        "frame_dir": entry.filename.rsplit(".", 1)[0],
        "filename": entry.filename,
        "label": entry.label,
        "img_shape": shape,
        "original_shape": shape,
        "total_frames": int(s["total_frames"]),
        "keypoint": np.asarray(s["keypoint"], dtype=np.float32),
        "keypoint_score": np.asarray(s["keypoint_score"], dtype=np.float32),
    }


def link_videos(data_root: Path, videos_dir: Path) -> Path:
    """``DATA_ROOT/nturgbd_videos`` -> the videos folder (a symlink unless it already is that folder)."""
    target = data_root / VIDEO_DIR
    if target.exists() or target.is_symlink():
        if target.resolve() != videos_dir.resolve():
            raise LabelsError(f"{target} exists and is not {videos_dir}; write the annotation file elsewhere")
        return target
    data_root.mkdir(parents=True, exist_ok=True)
    target.symlink_to(videos_dir.resolve(), target_is_directory=True)
    return target


def write_annotations(path: Path, done: list[tuple[Entry, dict[str, Any]]]) -> dict[str, list[str]]:
    split = {name: [e.filename for e, _ in done if e.split == part] for part, name in SPLITS.items()}
    with path.open("wb") as f:
        pickle.dump({"split": split, "annotations": [a for _, a in done]}, f, protocol=4)
    return split
