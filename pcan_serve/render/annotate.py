"""An annotated copy of a video: per frame the skeleton overlay, the current top-3 and the per-branch bars,
written as H.264 MP4 (yuv420p, +faststart: plays in browsers) with PyAV.

Frames are read with pcan's own decoder (the same frame numbering as the skeleton and the model, and the same
input limits), one at a time, and encoded as they come: memory holds one frame, whatever the video's length.
The frame size is kept, or scaled down so that the longer side is at most ``MAX_SIDE``; both sides are made
even (4:2:0 chroma needs it).
"""

from collections.abc import Callable, Mapping
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from ..preprocess.limits import Limits
from ..preprocess.pipeline import open_item
from ..preprocess.skeleton import (
    SkeletonSource,
    check_frame_shape,
    fit_to_video,
    frame_pixel_keypoints,
)
from .answers import moment_at
from .overlay import draw_panel, draw_skeleton

MAX_SIDE = 1280
FALLBACK_FPS = 25.0  # a header without a frame rate still gets a playable file
Progress = Callable[[int, int], None]


def output_size(height: int, width: int, max_side: int = MAX_SIDE) -> tuple[int, int]:
    """(height, width) of the annotated frames: kept or scaled down to ``max_side``, even, at least 2."""
    scale = min(1.0, max_side / max(height, width))
    return max(2, int(height * scale) // 2 * 2), max(2, int(width * scale) // 2 * 2)


def annotate_video(
    video_path: str | Path,
    skeleton: SkeletonSource,
    prediction: Mapping[str, Any],
    out_path: str | Path,
    progress: Progress | None = None,
    limits: Limits | None = None,
) -> Path:
    """Write ``out_path`` (.mp4); ``prediction`` is the prediction object as a dict (its ``timeline`` when present
    labels each frame by its window); ``progress(frames done, frames in all)`` after every frame. ``limits``:
    the run's input limits (``Frontend.limits``)."""
    out_path, lim = Path(out_path), limits or Limits()
    skel, video = open_item(video_path, skeleton, lim)
    partial = out_path.with_name(out_path.stem + ".partial.mp4")  # a failed run leaves no file that looks done
    with video:
        total, fps = video.num_frames, video.fps if video.fps > 0 else FALLBACK_FPS
        skel = fit_to_video(skel, total)  # as for a prediction: at most FRAME_TOLERANCE frames apart
        skel_frames = skel.num_frames
        writer: _Writer | None = None
        try:
            for i, frame in video.frames(np.arange(total)):
                if writer is None:
                    shape = (int(frame.shape[0]), int(frame.shape[1]))
                    check_frame_shape(skel, shape)
                    size = output_size(*shape)
                    kp = frame_pixel_keypoints(skel, np.arange(skel_frames), shape)
                    kp *= np.array([size[1] / shape[1], size[0] / shape[0]], np.float32)
                    writer = _Writer(partial, size, fps)
                img = frame if frame.shape[:2] == size else cv2.resize(frame, size[::-1], interpolation=cv2.INTER_AREA)
                if i < skel_frames:
                    draw_skeleton(img, kp[:, i], skel.keypoint_score[:, i])
                draw_panel(img, moment_at(prediction, (i + 0.5) / fps), str(prediction.get("fusion", "")))
                writer.write(img)
                if progress is not None:
                    progress(i + 1, total)
            writer.close()  # type: ignore[union-attr]
        except BaseException:
            if writer is not None:
                writer.abort()
            partial.unlink(missing_ok=True)
            raise
    partial.replace(out_path)
    return out_path


class _Writer:
    """H.264 in MP4 through PyAV (libx264 is in its wheel)."""

    def __init__(self, path: Path, size: tuple[int, int], fps: float) -> None:
        self.container = av.open(str(path), mode="w", format="mp4", options={"movflags": "+faststart"})
        rate = Fraction(fps).limit_denominator(1001)
        self.stream = self.container.add_stream("libx264", rate=rate)
        self.stream.height, self.stream.width = size
        self.stream.pix_fmt = "yuv420p"
        self.stream.options = {"crf": "23", "preset": "veryfast"}
        self.stream.time_base = 1 / rate
        self.count = 0

    def write(self, rgb: np.ndarray) -> None:
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame.pts, self.count = self.count, self.count + 1
        self.container.mux(self.stream.encode(frame))

    def close(self) -> None:
        self.container.mux(self.stream.encode(None))
        self.container.close()

    def abort(self) -> None:
        self.container.close()
