"""Timelines for long videos: overlapping windows, each sampled like a whole video, all from ONE decode pass.

A window is a frame range ``[start, end)`` of the video. Its clips are mmaction2's test-mode uniform sample of
that range, as if the range were a video of its own, and its person box and heatmaps come from the skeleton
frames it samples. The whole video is one more span (sampled exactly as :func:`~.pipeline.make_inputs` samples
it), so the whole-video answer costs no second pass either.

The spans' sampled frames are decoded once, in order (their union, each distinct frame once). A decoded frame
is cropped into every span that samples it, and a span's inputs are handed out as soon as the decoder has
passed its last frame. Memory: one full-size frame plus the inputs of the spans still open (about
window / stride windows, and the whole video), not one set of inputs per window.
"""

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..errors import InvalidRequest, InvalidVideo, MissingInput
from ..model.config import PreprocessConfig
from .clips import RGBClips
from .limits import DEFAULT_MAX_WINDOWS, Limits
from .pipeline import (
    Inputs,
    Stopwatch,
    box_heatmaps,
    check_num_clips,
    open_item,
    open_video_within,
    person_box,
    plan_clips,
)
from .sampling import SamplePlan
from .skeleton import Skeleton, SkeletonSource, check_frame_shape, fit_to_video, parse_skeleton
from .video import Video, VideoSource


@dataclass(frozen=True, eq=False)
class TimeWindow:
    """A span of the video: frames ``[start_frame, end_frame)``, seconds ``[start, end)``, and its sample.
    Hashed by identity: answers are kept per span object."""

    start_frame: int
    end_frame: int
    start: float
    end: float
    plan: SamplePlan  # video frame indices (not offsets into the window)


def check_window_request(window: object, stride: object) -> tuple[float, float] | None:
    """(window, stride) in seconds, or None when neither was given; a typed error before any work."""
    if window is None and stride is None:
        return None
    if window is None or stride is None:
        raise InvalidRequest("window and stride go together: give both (seconds) for a timeline, or neither")
    values = []
    for name, value in (("window", window), ("stride", stride)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
            raise InvalidRequest(f"{name}: expected a positive number of seconds, got {value!r}")
        values.append(float(value))
    if values[1] > values[0]:
        raise InvalidRequest(
            f"stride ({values[1]:g} s) is longer than window ({values[0]:g} s): the windows would leave gaps"
        )
    return values[0], values[1]


def window_ranges(
    num_frames: int, fps: float, window: float, stride: float, max_windows: int = DEFAULT_MAX_WINDOWS
) -> list[tuple[int, int]]:
    """Frame ranges of the windows: every ``stride`` seconds a ``window``-second range, plus one ending at the
    last frame when the strides do not reach it (every frame is covered; all windows have one length). A
    window at least as long as the video is the video. More than ``max_windows`` windows is an InvalidRequest.
    """
    if not (math.isfinite(fps) and fps > 0):
        raise InvalidVideo("video: its header gives no frame rate, so windows in seconds cannot be placed")
    length, step = round(window * fps), stride * fps
    if length < 1 or step < 1:
        raise InvalidRequest(
            f"window ({window:g} s) and stride ({stride:g} s) must each span at least one frame "
            f"({1 / fps:.3g} s at {fps:g} fps)"
        )
    if length >= num_frames:
        return [(0, num_frames)]
    count = math.floor((num_frames - length) / step + 1e-9) + 1
    starts = [round(i * step) for i in range(min(count, max_windows + 1))]
    if starts[-1] + length < num_frames:
        starts.append(num_frames - length)
    if len(starts) > max_windows:
        seconds = num_frames / fps
        raise InvalidRequest(
            f"window {window:g} s with stride {stride:g} s makes more than {max_windows} windows over this "
            f"{seconds:.1f} s video; at most {max_windows} are accepted (use a longer stride)"
        )
    return [(s, s + length) for s in starts]


def plan_windows(
    num_frames: int,
    fps: float,
    window: float,
    stride: float,
    num_clips: int,
    config: PreprocessConfig,
    max_windows: int = DEFAULT_MAX_WINDOWS,
) -> list[TimeWindow]:
    """The windows of :func:`window_ranges`, each with the uniform test-mode sample of its own range."""
    ranges = window_ranges(num_frames, fps, window, stride, max_windows)
    local = plan_clips(ranges[0][1] - ranges[0][0], num_clips, config)  # every window has this one length
    return [
        TimeWindow(start, end, start / fps, end / fps, replace(local, rgb=local.rgb + start, pose=local.pose + start))
        for start, end in ranges
    ]


Estimate = Callable[[Video, np.ndarray], Mapping[str, Any]]
"""A pose estimator: (opened video, frame indices) -> a skeleton dict with those frames filled."""


@dataclass
class Windowed:
    """An opened video and its fitted skeleton with the windows planned; :meth:`inputs` decodes them. A video
    without a skeleton gets one from :meth:`estimate_skeleton` first (the costly part: a server admits first)."""

    video: Video
    skeleton: Skeleton | None
    windows: list[TimeWindow]
    whole: TimeWindow  # the whole video, sampled as make_inputs samples it
    config: PreprocessConfig
    limits: Limits
    timings: dict[str, float] | None = None
    estimated: bool = False  # the skeleton was estimated from the video (estimate_skeleton)
    decoded: int = field(default=0, init=False)  # distinct frames decoded by inputs(): each at most once

    @property
    def clip_count(self) -> int:
        """Clips this request costs at inference: every window's and the whole video's."""
        return (len(self.windows) + 1) * self.whole.plan.num_clips

    def estimate_skeleton(self, estimate: Estimate) -> None:
        """The skeleton made by ``estimate`` on the frames the windows' pose clips sample (timed as ``pose``)."""
        clock, lim = Stopwatch(self.timings), self.limits
        with clock("pose"):
            frames = np.unique(np.concatenate([w.plan.pose.ravel() for w in [*self.windows, self.whole]]))
            skel = parse_skeleton(estimate(self.video, frames), max_persons=lim.max_persons, max_frames=lim.max_frames)
        with clock("preprocess"):
            self.skeleton, self.estimated = fit_to_video(skel, self.video.num_frames), True

    def inputs(self) -> Iterator[tuple[TimeWindow, Inputs]]:
        """(span, its model inputs) for every window and the whole video, in the order their last sampled frame
        is decoded; one forward pass of the decoder over the file. Closes the video at the end."""
        if self.skeleton is None:
            raise MissingInput("a timeline without a skeleton needs one estimated first (estimate_skeleton)")
        with self.video:
            yield from _decode_spans(self, [*self.windows, self.whole])

    def close(self) -> None:
        self.video.close()

    def __enter__(self) -> "Windowed":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_windows(
    video: VideoSource,
    skeleton: SkeletonSource | None,
    window: float,
    stride: float,
    num_clips: int = 1,
    config: PreprocessConfig | None = None,
    limits: Limits | None = None,
    timings: dict[str, float] | None = None,
    decode_device: str = "cpu",
) -> Windowed:
    """Load the skeleton, open the video (header and packet index only) and plan the windows: every request
    check (``window``/``stride``, the window count, the input limits) fails here, before a frame is decoded.
    ``skeleton`` None: planned on the video alone; :meth:`Windowed.estimate_skeleton` makes the skeleton."""
    cfg = config or PreprocessConfig()
    lim = limits or Limits()
    check_num_clips(num_clips, lim.max_clips)
    checked = check_window_request(window, stride)
    if checked is None:
        raise InvalidRequest("a timeline needs window and stride (seconds)")
    window, stride = checked
    clock = Stopwatch(timings)
    if skeleton is None:
        with clock("decode"):
            vid = open_video_within(video, lim, decode_device)
    else:
        skel, vid = open_item(video, skeleton, lim, decode_device, clock)
    try:
        with clock("preprocess"):
            if skeleton is not None:
                skel = fit_to_video(skel, vid.num_frames)
            n = vid.num_frames if skeleton is None else skel.num_frames
            windows = plan_windows(n, vid.fps, window, stride, num_clips, cfg, lim.max_windows)
            whole = TimeWindow(0, n, 0.0, n / vid.fps, plan_clips(n, num_clips, cfg))
    except BaseException:
        vid.close()
        raise
    return Windowed(vid, skel if skeleton is not None else None, windows, whole, cfg, lim, timings)


class _Span:
    """One span's clips while its frames are being decoded."""

    def __init__(self, span: TimeWindow, skeleton: Skeleton, frame_shape: tuple[int, int], cfg: PreprocessConfig):
        self.span = span
        box, self.keypoint = person_box(skeleton, span.plan, frame_shape, cfg)
        self.clips = RGBClips(box, frame_shape, span.plan, cfg)

    def inputs(self, skeleton: Skeleton, cfg: PreprocessConfig) -> Inputs:
        heatmaps = box_heatmaps(skeleton, self.span.plan, self.keypoint, cfg)
        return {"imgs": self.clips.imgs, "heatmaps": heatmaps}


def _decode_spans(w: Windowed, spans: Sequence[TimeWindow]) -> Iterator[tuple[TimeWindow, Inputs]]:
    clock = Stopwatch(w.timings)
    with clock("preprocess"):
        union = np.unique(np.concatenate([s.plan.rgb for s in spans]))
        users: dict[int, list[tuple[int, int]]] = {}  # video frame -> [(span, position in its rgb_unique)]
        for i, s in enumerate(spans):
            for position, frame in enumerate(s.plan.rgb_unique.tolist()):
                users.setdefault(frame, []).append((i, position))
        last = [int(s.plan.rgb_unique[-1]) for s in spans]
        order = sorted(range(len(spans)), key=lambda i: (last[i], i))  # the order spans complete in
    open_spans: dict[int, _Span] = {}
    done = 0
    frames = w.video.frames(union)
    try:
        while True:
            with clock("decode"):
                decoded = next(frames, None)
            if decoded is None:
                break
            position, frame = decoded
            w.decoded += 1
            index = int(union[position])
            with clock("preprocess"):
                shape = (int(frame.shape[0]), int(frame.shape[1]))
                if position == 0:
                    check_frame_shape(w.skeleton, shape)
                for i, slot in users[index]:
                    if i not in open_spans:
                        open_spans[i] = _Span(spans[i], w.skeleton, shape, w.config)
                    open_spans[i].clips.work(np.array([slot]), frame[None]).run()
            del frame, decoded
            while done < len(order) and last[order[done]] <= index:
                i = order[done]
                with clock("preprocess"):
                    inputs = open_spans.pop(i).inputs(w.skeleton, w.config)
                done += 1
                yield spans[i], inputs
    finally:
        frames.close()
    if done < len(order):  # Video.frames yields every index asked for or raises; this is a broken invariant
        raise RuntimeError(f"the decode pass ended with {len(order) - done} spans incomplete")
