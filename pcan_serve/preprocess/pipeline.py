"""mmaction2's RGBPoseConv3D val/test pipeline end to end: video + skeleton -> model inputs.

Order of work: the skeleton and the sampled frame indices fix the person box and the heatmaps as soon as the
first decoded frame has told the frame size; only the distinct sampled frames are decoded, one at a time, and
each frame is cropped, resized and normalised into its clip slots right away (while it is in cache), so
memory holds one full-size frame at a time and no intermediate array of resized frames exists.
"""

import time
from collections.abc import Iterator
from contextlib import ExitStack, closing, contextmanager
from functools import partial

import numpy as np

from ..errors import InvalidRequest, TooManyClips
from ..model.config import PreprocessConfig
from . import second_core
from .clips import RGBClips
from .compact import Box, check_box, compact_box, shift_keypoints
from .heatmaps import pose_heatmaps
from .limits import MAX_BOX_SCALE, Limits
from .resize import resize_keypoints
from .sampling import SamplePlan, sample_frames
from .second_core import Once
from .skeleton import (
    Skeleton,
    SkeletonSource,
    check_frame_shape,
    fit_to_video,
    frame_pixel_keypoints,
    load_skeleton,
)
from .video import Video, VideoSource, open_video

Inputs = dict[str, np.ndarray]


def check_num_clips(num_clips: object, max_clips: int) -> int:
    """A whole number of clips from 1 to the ``max_clips`` limit (``TooManyClips`` above it)."""
    if isinstance(num_clips, bool) or not isinstance(num_clips, int | np.integer) or num_clips < 1:
        raise InvalidRequest(f"num_clips: expected an integer from 1 to {max_clips}, got {num_clips!r}")
    if num_clips > max_clips:
        raise TooManyClips(f"num_clips {num_clips} is over the limit of {max_clips} clips per request")
    return int(num_clips)


def plan_clips(num_frames: int, num_clips: int, config: PreprocessConfig) -> SamplePlan:
    """Sampled frame indices for both modalities (mmaction2's test-mode uniform sampling); ``num_clips`` as
    :func:`check_num_clips` accepts it (``make_inputs`` checks it before any work)."""
    return sample_frames(num_frames, num_clips, config.clip_len_rgb, config.clip_len_pose)


def person_box(
    skeleton: Skeleton, plan: SamplePlan, frame_shape: tuple[int, int], config: PreprocessConfig
) -> tuple[Box, np.ndarray]:
    """(person box in frame pixels, keypoints of the sampled pose frames [M, F, 17, 2] in heatmap pixels)."""
    kp = frame_pixel_keypoints(skeleton, plan.pose, frame_shape)
    box = compact_box(kp, frame_shape, config.compact_padding, config.compact_threshold)
    check_box(box, frame_shape, MAX_BOX_SCALE)
    shift_keypoints(kp, box)
    kp = resize_keypoints(kp, box, config.resize)
    kp *= np.float32(config.heatmap_scaling)
    return box, kp


def box_heatmaps(skeleton: Skeleton, plan: SamplePlan, keypoint: np.ndarray, config: PreprocessConfig) -> np.ndarray:
    """Heatmaps float32 [num_clips, 17, clip_len_pose, h, w] from :func:`person_box`'s keypoints."""
    size = config.heatmap_size
    score = skeleton.keypoint_score[:, plan.pose]
    return pose_heatmaps(keypoint, score, (size, size), config.sigma, config.clip_len_pose)


def build_inputs(frames: np.ndarray, skeleton: Skeleton, plan: SamplePlan, config: PreprocessConfig) -> Inputs:
    """Model inputs from decoded frames: ``frames[i]`` is video frame ``plan.rgb_unique[i]``.

    ``skeleton`` must already be fitted to the video (:func:`fit_to_video`). The calling thread draws the
    heatmaps, then joins the helper thread (when it is free) on the frames: frames are small pieces of
    work, so when the helper is slow (other processes on its core) the caller waits for one frame at most.
    """
    if len(frames) != len(plan.rgb_unique):
        raise ValueError(f"{len(frames)} frames for the plan's {len(plan.rgb_unique)} distinct RGB frames")
    frame_shape = (int(frames.shape[1]), int(frames.shape[2]))
    check_frame_shape(skeleton, frame_shape)
    box, kp = person_box(skeleton, plan, frame_shape, config)
    clips = RGBClips(box, frame_shape, plan, config)
    work = clips.work(np.arange(len(frames)), frames)
    with second_core.sharing(work.run):
        heatmaps = box_heatmaps(skeleton, plan, kp, config)
        work.run()
    return {"imgs": clips.imgs, "heatmaps": heatmaps}


def load_skeleton_within(skeleton: SkeletonSource, limits: Limits) -> Skeleton:
    """The skeleton parsed within ``limits`` (persons, frames, bytes)."""
    return load_skeleton(
        skeleton, max_persons=limits.max_persons, max_frames=limits.max_frames, max_bytes=limits.max_skeleton_bytes
    )


def open_video_within(video: VideoSource, limits: Limits, decode_device: str = "cpu") -> Video:
    """The video opened (header and packet index only) within ``limits`` (frames, pixels)."""
    return open_video(video, max_frames=limits.max_frames, max_pixels=limits.max_pixels, device=decode_device)


def open_item(
    video: VideoSource,
    skeleton: SkeletonSource,
    limits: Limits,
    decode_device: str = "cpu",
    clock: "Stopwatch | None" = None,
) -> tuple[Skeleton, Video]:
    """The skeleton parsed and the video opened (header and packet index only), each within ``limits``."""
    clock = clock or Stopwatch(None)
    with clock("preprocess"):
        skel = load_skeleton_within(skeleton, limits)
    with clock("decode"):
        vid = open_video_within(video, limits, decode_device)
    return skel, vid


def make_inputs(
    video: VideoSource,
    skeleton: SkeletonSource,
    num_clips: int = 1,
    config: PreprocessConfig | None = None,
    limits: Limits | None = None,
    timings: dict[str, float] | None = None,
    decode_device: str = "cpu",
) -> Inputs:
    """``{"imgs": [num_clips, 3, 8, R, R], "heatmaps": [num_clips, 17, 32, R/4, R/4]}``, float32.

    ``video``: path or bytes; ``skeleton``: path (.json/.npz), bytes or a parsed dict. When ``timings`` is
    given, milliseconds are added to its ``"decode"`` (open + decode) and ``"preprocess"`` (the rest) keys.
    """
    cfg = config or PreprocessConfig()
    lim = limits or Limits()
    check_num_clips(num_clips, lim.max_clips)  # before any work is spent on the item
    clock = Stopwatch(timings)
    skel, vid = open_item(video, skeleton, lim, decode_device, clock)
    with vid:
        with clock("preprocess"):
            skel = fit_to_video(skel, vid.num_frames)
            plan = plan_clips(skel.num_frames, num_clips, cfg)
        clips = None
        with ExitStack() as stack:
            frames = stack.enter_context(closing(vid.frames(plan.rgb_unique)))  # ends the decode on an error
            while True:
                with clock("decode"):
                    decoded = next(frames, None)
                if decoded is None:
                    break
                position, frame = decoded
                with clock("preprocess"):
                    if clips is None:  # the first frame tells the frame size
                        frame_shape = (int(frame.shape[0]), int(frame.shape[1]))
                        check_frame_shape(skel, frame_shape)
                        box, kp = person_box(skel, plan, frame_shape, cfg)
                        heatmaps = Once(partial(box_heatmaps, skel, plan, kp, cfg))
                        clips = RGBClips(box, frame_shape, plan, cfg)
                        stack.enter_context(second_core.sharing(heatmaps))  # the heatmaps overlap the decoding
                    clips.work(np.array([position]), frame[None]).run()
                del frame, decoded
            with clock("preprocess"):
                inputs = {"imgs": clips.imgs, "heatmaps": heatmaps()}
    return inputs


class Stopwatch:
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
