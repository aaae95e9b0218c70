"""Shared inputs for the preprocessing tests: small synthetic videos and skeletons (no tests here)."""

from pathlib import Path
from typing import Any

import cv2
import numpy as np

# COCO-17 joints of a standing person, as fractions of its box (x, y)
_BODY = np.array(
    [
        [0.50, 0.08], [0.46, 0.05], [0.54, 0.05], [0.41, 0.07], [0.59, 0.07],
        [0.35, 0.22], [0.65, 0.22], [0.28, 0.40], [0.72, 0.40], [0.25, 0.56],
        [0.75, 0.56], [0.40, 0.55], [0.60, 0.55], [0.40, 0.76], [0.60, 0.76],
        [0.40, 0.97], [0.60, 0.97],
    ],
    dtype=np.float64,
)  # fmt: skip


def write_video(path: Path, num_frames: int = 40, size: tuple[int, int] = (240, 320), seed: int = 0) -> Path:
    """An MJPG .avi of textured, moving frames (fine detail, so a resize mismatch cannot hide)."""
    height, width = size
    rng = np.random.default_rng(seed)
    texture = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    yy, xx = np.mgrid[0:height, 0:width]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (width, height))
    assert writer.isOpened()
    for t in range(num_frames):
        ramp = ((xx * 3 + yy * 2 + t * 7) % 256).astype(np.uint8)
        frame = cv2.addWeighted(np.roll(texture, t * 3, axis=1), 0.6, np.dstack([ramp] * 3), 0.4, 0)
        writer.write(frame)
    writer.release()
    return path


def person_track(
    num_frames: int, box: tuple[float, float, float, float], drift: float = 1.5, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """One person's keypoints [T, 17, 2] (pixels, with jitter and drift) and scores [T, 17] in (0.3, 1]."""
    rng = np.random.default_rng(seed)
    x0, y0, w, h = box
    base = _BODY * [w, h] + [x0, y0]
    t = np.arange(num_frames)[:, None, None]
    kp = base[None] + t * [drift, drift / 3] + rng.normal(0, 1.5, (num_frames, 17, 2))
    score = rng.uniform(0.3, 1.0, (num_frames, 17))
    return kp, score


def skeleton_dict(kps: list[np.ndarray], scores: list[np.ndarray], img_shape: tuple[int, int]) -> dict[str, Any]:
    """The JSON-able skeleton dict of docs/formats.md for the given persons."""
    kp, score = np.stack(kps), np.stack(scores)
    return {
        "keypoint": kp.tolist(),
        "keypoint_score": score.tolist(),
        "img_shape": list(img_shape),
        "total_frames": int(kp.shape[1]),
    }
