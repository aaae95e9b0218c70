"""mmaction2's RGBPoseConv3D val/test pipeline end to end: video + skeleton -> model inputs.

Order of work: the skeleton and the sampled frame indices fix the person box and the heatmaps as soon as one
decoded frame has told the frame size; only the distinct sampled frames are decoded, chunk by chunk, and
each chunk is cropped and resized right away, so memory stays bounded by one chunk of full-size frames.
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

import cv2
import numpy as np

from ..errors import InvalidRequest
from ..model.config import PreprocessConfig
from .buffers import huge_page_array
from .compact import Box, check_box, compact_box, shift_keypoints
from .heatmaps import pose_heatmaps
from .limits import DEFAULT_MAX_FRAMES, DEFAULT_MAX_PERSONS, MAX_BOX_SCALE, MAX_CLIPS
from .resize import crop_resize, resize_keypoints
from .sampling import SamplePlan, sample_frames
from .skeleton import (
    Skeleton,
    SkeletonSource,
    check_frame_shape,
    fit_to_video,
    frame_pixel_keypoints,
    load_skeleton,
)
from .video import VideoSource, open_video

Inputs = dict[str, np.ndarray]


def check_num_clips(num_clips: object) -> int:
    if isinstance(num_clips, bool) or not isinstance(num_clips, int | np.integer) or not 1 <= num_clips <= MAX_CLIPS:
        raise InvalidRequest(f"num_clips: expected an integer in [1, {MAX_CLIPS}], got {num_clips!r}")
    return int(num_clips)


def plan_clips(num_frames: int, num_clips: int, config: PreprocessConfig) -> SamplePlan:
    """Sampled frame indices for both modalities (mmaction2's test-mode uniform sampling)."""
    return sample_frames(num_frames, check_num_clips(num_clips), config.clip_len_rgb, config.clip_len_pose)


def pose_inputs(
    skeleton: Skeleton, plan: SamplePlan, frame_shape: tuple[int, int], config: PreprocessConfig
) -> tuple[Box, np.ndarray]:
    """(person box in frame pixels, heatmaps float32 [num_clips, 17, clip_len_pose, h, w])."""
    kp = frame_pixel_keypoints(skeleton, plan.pose, frame_shape)
    box = compact_box(kp, frame_shape, config.compact_padding, config.compact_threshold)
    check_box(box, frame_shape, MAX_BOX_SCALE)
    shift_keypoints(kp, box)
    kp = resize_keypoints(kp, box, config.resize)
    kp *= np.float32(config.heatmap_scaling)
    size = config.heatmap_size
    heatmaps = pose_heatmaps(
        kp, skeleton.keypoint_score[:, plan.pose], (size, size), config.sigma, config.clip_len_pose
    )
    return box, heatmaps


def normalize_clips(resized: np.ndarray, plan: SamplePlan, config: PreprocessConfig) -> np.ndarray:
    """float32 [num_clips, 3, clip_len_rgb, R, R] = (pixel - mean) / std, from the resized distinct frames.

    A uint8 pixel has 256 possible values, so each channel is one table lookup (cv2.LUT), written straight
    into its plane of the output; the table holds mmaction2's float32 ``(x - mean) / std``, bit for bit.
    """
    slots = np.searchsorted(plan.rgb_unique, plan.rgb)
    clip_len, size = config.clip_len_rgb, resized.shape[1]
    tables = _normalize_tables(config.mean, config.std)
    out = huge_page_array((plan.num_clips, 3, clip_len, size, size))
    planes = [np.empty((clip_len * size, size), dtype=np.uint8) for _ in range(3)]
    for clip in range(plan.num_clips):
        take = slots[clip * clip_len : (clip + 1) * clip_len]
        consecutive = bool((np.diff(take) == 1).all())  # usual for one clip: a view, no gather
        frames = resized[take[0] : take[-1] + 1] if consecutive else resized[take]  # uint8 [T, R, R, 3]
        cv2.split(frames.reshape(clip_len * size, size, 3), planes)
        for c in range(3):
            cv2.LUT(planes[c], tables[c], dst=out[clip, c].reshape(clip_len * size, size))
    return out


@cache
def _normalize_tables(mean: tuple[float, ...], std: tuple[float, ...]) -> tuple[np.ndarray, ...]:
    values = np.arange(256, dtype=np.float32)
    return tuple((values - np.float32(m)) / np.float32(s) for m, s in zip(mean, std, strict=True))


def build_inputs(frames: np.ndarray, skeleton: Skeleton, plan: SamplePlan, config: PreprocessConfig) -> Inputs:
    """Model inputs from decoded frames: ``frames[i]`` is video frame ``plan.rgb_unique[i]``.

    ``skeleton`` must already be fitted to the video (:func:`fit_to_video`).
    """
    frame_shape = (int(frames.shape[1]), int(frames.shape[2]))
    check_frame_shape(skeleton, frame_shape)
    box, heatmaps = pose_inputs(skeleton, plan, frame_shape, config)
    resized = crop_resize(frames, box, config.resize)
    return {"imgs": normalize_clips(resized, plan, config), "heatmaps": heatmaps}


def make_inputs(
    video: VideoSource,
    skeleton: SkeletonSource,
    num_clips: int = 1,
    config: PreprocessConfig | None = None,
    max_persons: int = DEFAULT_MAX_PERSONS,
    max_frames: int = DEFAULT_MAX_FRAMES,
    timings: dict[str, float] | None = None,
) -> Inputs:
    """``{"imgs": [num_clips, 3, 8, R, R], "heatmaps": [num_clips, 17, 32, R/4, R/4]}``, float32.

    ``video``: path or bytes; ``skeleton``: path (.json/.npz), bytes or a parsed dict. When ``timings`` is
    given, milliseconds are added to its ``"decode"`` (open + decode) and ``"preprocess"`` (the rest) keys.
    """
    cfg = config or PreprocessConfig()
    check_num_clips(num_clips)  # before any work is spent on the item
    clock = _Stopwatch(timings)
    with clock("preprocess"):
        skel = load_skeleton(skeleton, max_persons=max_persons, max_frames=max_frames)
    with clock("decode"):
        vid = open_video(video, max_frames=max_frames)
    with vid:
        with clock("preprocess"):
            skel = fit_to_video(skel, vid.num_frames)
            plan = plan_clips(skel.num_frames, num_clips, cfg)
            wanted = plan.rgb_unique
            resized = huge_page_array((len(wanted), cfg.resize, cfg.resize, 3), np.uint8)
        box = None
        chunks = vid.iter_chunks(wanted)
        while True:
            with clock("decode"):
                chunk = next(chunks, None)
            if chunk is None:
                break
            positions, frames = chunk
            with clock("preprocess"):
                if box is None:  # the first chunk tells the frame size
                    frame_shape = (int(frames.shape[1]), int(frames.shape[2]))
                    check_frame_shape(skel, frame_shape)
                    box, heatmaps = pose_inputs(skel, plan, frame_shape, cfg)
                crop_resize(frames, box, cfg.resize, out=resized[positions[0] : positions[-1] + 1])
            del frames, chunk
    with clock("preprocess"):
        imgs = normalize_clips(resized, plan, cfg)
    return {"imgs": imgs, "heatmaps": heatmaps}


class _Stopwatch:
    """Adds elapsed milliseconds per stage into a caller's dict (or nowhere)."""

    def __init__(self, sink: dict[str, float] | None) -> None:
        self.sink = sink

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            if self.sink is not None:
                self.sink[stage] = self.sink.get(stage, 0.0) + (time.perf_counter() - start) * 1e3
