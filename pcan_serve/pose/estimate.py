"""Video -> skeleton in the input format (``docs/formats.md``), estimated on every frame or on given frames only.

A request estimates only the frames the pose branch samples (``plan_clips(...).pose``): the skeleton still has the
video's length, unsampled frames have score 0 (and coordinates 0, "missing"), so the heatmaps come from the
sampled frames alone. Joints are clamped into the frame: BlazePose also guesses joints outside the picture, and
those would stretch the person box that preprocessing crops (mmaction2's keypoints lie inside the frame).
"""

import time
from collections.abc import Callable, Iterable
from contextlib import ExitStack, closing
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InvalidRequest, NoPersonDetected
from ..preprocess.limits import DEFAULT_MAX_FRAMES, DEFAULT_MAX_PERSONS, DEFAULT_MAX_PIXELS
from ..preprocess.skeleton_io import NUM_JOINTS
from ..preprocess.video import Video, VideoSource, open_video
from .detector import Detector
from .prefetch import prefetched
from .tracker import PoseModel, Tracker

DEFAULT_PERSONS = 2  # NTU-60's two-person actions
KEEP_BYTES = 256 * 2**20  # frames kept for the RGB branch: 1080p frames of 5 clips (8 frames each) at most


@dataclass(frozen=True)
class PoseInfo:
    """What the estimator did: for the answer's ``skeleton`` object and for timing."""

    estimator: str
    persons: int
    frames: int  # frames estimated
    timing_ms: dict[str, float] = field(default_factory=dict)  # decode, detect, pose, total

    @property
    def ms(self) -> float:
        return self.timing_ms.get("total", 0.0)


@dataclass(frozen=True)
class PoseResult:
    skeleton: dict[str, Any]  # keypoint float32 [M, T, 17, 2], keypoint_score [M, T, 17], img_shape, total_frames
    info: PoseInfo

    def to_json(self) -> dict[str, Any]:
        """The skeleton as JSON-ready lists (coordinates to 0.01 px, scores to 1e-4)."""
        s = self.skeleton
        return {
            "keypoint": np.round(s["keypoint"].astype(np.float64), 2).tolist(),
            "keypoint_score": np.round(s["keypoint_score"].astype(np.float64), 4).tolist(),
            "img_shape": list(s["img_shape"]),
            "total_frames": s["total_frames"],
            "source": s["source"],
        }


def check_max_persons(max_persons: object, cap: int = DEFAULT_MAX_PERSONS) -> int:
    if isinstance(max_persons, bool) or not isinstance(max_persons, int) or not 1 <= max_persons <= cap:
        raise InvalidRequest(f"max_persons: expected an integer in [1, {cap}], got {max_persons!r}")
    return max_persons


class PoseSession:
    """One video's estimation: ``add`` frames in increasing index order, then ``result``."""

    def __init__(self, estimator: "PoseEstimator", num_frames: int, name: str = "video") -> None:
        self.tracker = Tracker(estimator.detector, estimator.model, estimator.max_persons)
        self.estimator, self.num_frames, self.name = estimator, num_frames, name
        self._poses: dict[int, dict[int, Any]] = {}  # frame index -> slot -> Pose
        self._shape: tuple[int, int] | None = None
        self._last = -1

    def add(self, index: int, frame: np.ndarray) -> None:
        if not self._last < index < self.num_frames:
            raise ValueError(f"frame {index}: expected increasing indices in [0, {self.num_frames})")
        self._last, self._shape = index, (int(frame.shape[0]), int(frame.shape[1]))
        self._poses[index] = self.tracker.step(frame)

    def result(self, extra_ms: dict[str, float] | None = None) -> PoseResult:
        persons = len(self.tracker.tracks)
        if persons == 0 or self._shape is None:
            raise NoPersonDetected(
                f"video: no person found in {self.name} ({len(self._poses)} frames looked at); a skeleton "
                "cannot be estimated: send one with the video, or a video in which a person is visible"
            )
        height, width = self._shape
        keypoint = np.zeros((persons, self.num_frames, NUM_JOINTS, 2), dtype=np.float32)
        score = np.zeros((persons, self.num_frames, NUM_JOINTS), dtype=np.float32)
        for index, poses in self._poses.items():
            for slot, pose in poses.items():
                keypoint[slot, index] = pose.keypoint
                score[slot, index] = pose.score
        seen = score > 0
        keypoint[..., 0] = np.where(seen, np.clip(keypoint[..., 0], 1e-3, width - 1e-3), 0)
        keypoint[..., 1] = np.where(seen, np.clip(keypoint[..., 1], 1e-3, height - 1e-3), 0)
        timing = self.tracker.timing
        timing_ms = {"detect": timing.detect_ms, "pose": timing.pose_ms, **(extra_ms or {})}
        name = self.estimator.name
        skeleton = {
            "keypoint": keypoint,
            "keypoint_score": score,
            "img_shape": [height, width],
            "total_frames": self.num_frames,
            "source": f"estimated by pcan ({name}) on {len(self._poses)} of {self.num_frames} frames",
        }
        return PoseResult(skeleton, PoseInfo(name, persons, len(self._poses), timing_ms))


class PoseEstimator:
    """Person detector + pose model, loaded once and shared by sessions (each model serialises its own calls)."""

    def __init__(
        self, detector: Detector, model: PoseModel, max_persons: int = DEFAULT_PERSONS, cap: int = DEFAULT_MAX_PERSONS
    ) -> None:
        """``cap``: the most persons a skeleton may have where it is used (the service's ``PCAN_MAX_PERSONS``)."""
        self.detector, self.model = detector, model
        self.max_persons = check_max_persons(max_persons, cap)

    @property
    def name(self) -> str:
        return self.model.name

    def session(self, num_frames: int, name: str = "video") -> PoseSession:
        return PoseSession(self, num_frames, name)

    def estimate(
        self,
        video: VideoSource | Video,
        frames: Iterable[int] | np.ndarray | None = None,
        max_frames: int = DEFAULT_MAX_FRAMES,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        progress: Callable[[int, int], None] | None = None,
    ) -> PoseResult:
        """The skeleton of ``video`` (path, bytes, or an opened :class:`Video`), estimated on ``frames`` (any
        order, repeats allowed; None: every frame). ``progress(done, total)`` after each distinct frame (it may
        raise, e.g. at a deadline: the estimation stops there)."""
        return self.estimate_keeping(video, frames, None, max_frames, max_pixels, progress)[0]

    def estimate_keeping(
        self,
        video: VideoSource | Video,
        frames: Iterable[int] | np.ndarray | None,
        keep: np.ndarray | None,
        max_frames: int = DEFAULT_MAX_FRAMES,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        progress: Callable[[int, int], None] | None = None,
        keep_bytes: int = KEEP_BYTES,
    ) -> tuple[PoseResult, np.ndarray | None]:
        """:meth:`estimate`, decoding in the same pass the distinct frames ``keep`` (e.g. the RGB branch's
        ``plan.rgb_unique``) and returning them too, uint8 [len(keep), H, W, 3]: a video-only request then decodes
        each frame once (the RGB crop needs the skeleton, so those frames wait for it). None instead when they
        would take more than ``keep_bytes`` (many clips of large frames): decode them again afterwards."""
        start = time.perf_counter()
        with ExitStack() as stack:  # unwinds in reverse: the decoding thread stops before the video closes
            opened = video if isinstance(video, Video) else open_video(video, max_frames, max_pixels)
            if opened is not video:
                stack.callback(opened.close)
            decode_ms = (time.perf_counter() - start) * 1e3
            n = opened.num_frames
            wanted = np.arange(n) if frames is None else np.unique(np.asarray(list(frames), dtype=np.int64))
            if wanted.size == 0 or wanted[0] < 0 or wanted[-1] >= n:
                raise InvalidRequest(f"frames: expected indices in [0, {n}), got {wanted.tolist()[:8]}")
            union = wanted if keep is None else np.union1d(wanted, keep)
            slots = {} if keep is None else {int(f): i for i, f in enumerate(np.asarray(keep).tolist())}
            pose_frames, kept = set(wanted.tolist()), None
            session, done = self.session(n, opened.name), 0
            pending = stack.enter_context(closing(prefetched(opened.frames(union))))
            while True:
                tick = time.perf_counter()
                item = next(pending, None)
                decode_ms += (time.perf_counter() - tick) * 1e3  # the time spent waiting for decoded frames
                if item is None:
                    break
                position, frame = item
                index = int(union[position])
                if slots and kept is None and len(slots) * frame.nbytes > keep_bytes:
                    slots = {}  # over the budget: the caller decodes them again
                if index in slots:
                    if kept is None:
                        kept = np.empty((len(slots), *frame.shape), dtype=np.uint8)
                    kept[slots[index]] = frame
                if index in pose_frames:
                    session.add(index, frame)
                    done += 1
                    if progress is not None:
                        progress(done, len(wanted))
                del frame, item
        total = (time.perf_counter() - start) * 1e3
        return session.result({"decode": decode_ms, "total": total}), kept
