"""Write the synthetic action set: videos, sidecar skeletons, a PoseDataset .pkl and predict manifests.

Layout of ``out_dir``::

    videos/NN_MOTION_III.avi    MJPG video (decord reads it)
    videos/NN_MOTION_III.json   its skeleton (docs/formats.md "Skeleton")
    synth_pose.pkl              {"split": {"train": [...], "val": [...]}, "annotations": [...]}
                                for mmaction2's PoseDataset(data_prefix=dict(video="videos"))
    classes.txt                 one class name per line, in label order
    manifest_train.csv          video,skeleton,label (paths relative to out_dir)
    manifest_val.csv

Each clip is rendered from its own generator seeded by (seed, label, index): the set is a pure
function of its parameters, and clips do not depend on one another.
"""

import csv
import json
import pickle
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from pcan_serve.errors import InvalidRequest

from .motions import class_names
from .render import Clip, render_clip

ANN_FILE = "synth_pose.pkl"
VIDEO_DIR = "videos"
FPS = 25


@dataclass(frozen=True)
class SynthSpec:
    num_classes: int = 4
    videos_per_class: int = 40
    seed: int = 0
    val_fraction: float = 0.2
    height: int = 96
    width: int = 128
    min_frames: int = 40
    max_frames: int = 48


@dataclass(frozen=True)
class SynthSet:
    root: Path
    ann_file: Path
    class_names: tuple[str, ...]
    train: list[str]
    val: list[str]


def _write_video(path: Path, frames: np.ndarray) -> None:
    height, width = frames.shape[1:3]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (width, height))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write MJPG video {path}")
    for frame in frames:
        writer.write(frame)
    writer.release()


def _skeleton_json(clip: Clip, height: int, width: int) -> dict:
    return {
        "keypoint": clip.keypoint.astype(float).tolist(),
        "keypoint_score": clip.keypoint_score.astype(float).tolist(),
        "img_shape": [height, width],
        "total_frames": int(clip.keypoint.shape[1]),
    }


def _write_manifest(path: Path, rows: list[tuple[str, str, int]]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["video", "skeleton", "label"])
        writer.writerows(rows)


def generate(out_dir: str | Path, spec: SynthSpec = SynthSpec()) -> SynthSet:
    """Render the set described by ``spec`` into ``out_dir`` (created; existing files are overwritten)."""
    if spec.videos_per_class < 2:
        raise InvalidRequest("need at least 2 videos per class (one for train, one for val)")
    names = class_names(spec.num_classes)
    root = Path(out_dir)
    (root / VIDEO_DIR).mkdir(parents=True, exist_ok=True)
    n_val = min(max(1, round(spec.videos_per_class * spec.val_fraction)), spec.videos_per_class - 1)
    annotations, split = [], {"train": [], "val": []}
    manifests: dict[str, list[tuple[str, str, int]]] = {"train": [], "val": []}
    for label, motion in enumerate(names):
        for index in range(spec.videos_per_class):
            rng = np.random.default_rng([spec.seed, label, index])
            num_frames = int(rng.integers(spec.min_frames, spec.max_frames + 1))
            clip = render_clip(rng, motion, num_frames, spec.height, spec.width)
            stem = f"{label:02d}_{motion}_{index:03d}"
            _write_video(root / VIDEO_DIR / f"{stem}.avi", clip.frames)
            skeleton = _skeleton_json(clip, spec.height, spec.width)
            (root / VIDEO_DIR / f"{stem}.json").write_text(json.dumps(skeleton))
            part = "val" if index < n_val else "train"
            split[part].append(f"{stem}.avi")
            manifests[part].append((f"{VIDEO_DIR}/{stem}.avi", f"{VIDEO_DIR}/{stem}.json", label))
            annotations.append(
                {
                    "frame_dir": stem,
                    "filename": f"{stem}.avi",
                    "label": label,
                    "img_shape": (spec.height, spec.width),
                    "original_shape": (spec.height, spec.width),
                    "total_frames": num_frames,
                    "keypoint": clip.keypoint,
                    "keypoint_score": clip.keypoint_score,
                }
            )
    with (root / ANN_FILE).open("wb") as f:
        pickle.dump({"split": split, "annotations": annotations}, f, protocol=4)
    (root / "classes.txt").write_text("".join(f"{n}\n" for n in names))
    (root / "synth_spec.json").write_text(json.dumps(asdict(spec), indent=1))
    for part, rows in manifests.items():
        _write_manifest(root / f"manifest_{part}.csv", rows)
    return SynthSet(root, root / ANN_FILE, names, split["train"], split["val"])
