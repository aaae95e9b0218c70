"""Shared pieces of the pose tests: PCK against a reference skeleton and the two-person video made from the
NTU sample (no tests here)."""

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

COCO_FLIP = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]  # left <-> right joints


def pck(keypoint: np.ndarray, reference: np.ndarray, alpha: float = 0.05) -> float:
    """Share of joints [T, 17, 2] within ``alpha`` x the diagonal of the reference person's box in that frame."""
    span = reference.max(axis=1) - reference.min(axis=1)
    diagonal = np.hypot(span[:, 0], span[:, 1])
    error = np.hypot(*(keypoint - reference).transpose(2, 0, 1))
    return float((error < alpha * diagonal[:, None]).mean())


def write_video(path: Path, frames: list[np.ndarray], fps: int = 25) -> Path:
    height, width = frames[0].shape[:2]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.height, stream.width, stream.pix_fmt = height, width, "yuv420p"
        stream.codec_context.options = {"crf": "18"}
        for t, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts, frame.time_base = t, Fraction(1, fps)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def two_person_video(path: Path, frames: np.ndarray, reference: np.ndarray, count: int, shift: int):
    """A 1920x540 video of ``count`` frames: the sample halved on the left, and on the right the sample ``shift``
    frames later, halved and mirrored (another pose, the person facing the other way). Returns the path and the
    reference keypoints [2, count, 17, 2] of the left and right person in its pixels."""
    height, width = frames.shape[1] // 2, frames.shape[2] // 2
    out, refs = [], np.zeros((2, count, 17, 2), dtype=np.float32)
    for t in range(count):
        left = cv2.resize(frames[t], (width, height), interpolation=cv2.INTER_AREA)
        right = cv2.resize(frames[t + shift], (width, height), interpolation=cv2.INTER_AREA)[:, ::-1]
        out.append(np.ascontiguousarray(np.concatenate([left, right], axis=1)))
        refs[0, t] = reference[t] / 2
        mirrored = reference[t + shift][COCO_FLIP] / 2  # a mirrored left arm looks like a right arm
        mirrored[:, 0] = 2 * width - mirrored[:, 0]
        refs[1, t] = mirrored
    return write_video(path, out), refs
