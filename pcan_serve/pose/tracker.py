"""Persons across frames: the pose model follows each person from one frame's landmarks to the next; the detector
runs only when there is nobody to follow, when a person was lost, and (while fewer than ``max_persons`` are
followed) every ``REDETECT_EVERY`` frames to find newcomers.

Identities: a person keeps the slot of their track as long as the pose model follows them. A detection that is
not one of the followed persons re-opens the nearest lost track (a person the model lost for a few frames comes
back under their old slot), else opens a new slot while fewer than ``max_persons`` exist; slots opened in one
frame are numbered left to right. Two tracks that land on the same person (a classic drift) are merged: the
younger one is dropped for that frame and lost.
"""

import time
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from .detector import Detector
from .geometry import Roi, iou
from .landmarks import Pose

SAME_PERSON = 0.15  # mean joint distance / body size below which two poses are one person
SAME_CENTER = 0.1  # a detection centred this close (x its ROI size) to a followed person is that person
REDETECT_EVERY = 16  # frames estimated between searches for newcomers (while fewer than max_persons)


class PoseModel(Protocol):
    """One person's pose inside a ROI of a frame (BlazePose's landmark model, or an RTMPose-style ONNX)."""

    name: str

    def __call__(self, frame: np.ndarray, roi: Roi) -> Pose: ...


@dataclass
class Track:
    slot: int
    roi: Roi | None  # where to look in the next frame; None: lost
    last: Pose


@dataclass
class Timing:
    detect_ms: float = 0.0
    pose_ms: float = 0.0


@dataclass
class Tracker:
    detector: Detector
    model: PoseModel
    max_persons: int
    tracks: list[Track] = field(default_factory=list)
    timing: Timing = field(default_factory=Timing)
    _since_detect: int = 0

    def step(self, frame: np.ndarray) -> dict[int, Pose]:
        """Poses of this frame by slot."""
        poses: dict[int, Pose] = {}
        just_lost = False
        for track in self.tracks:
            if track.roi is not None:
                pose = self._pose(frame, track.roi)
                if pose.present and not any(same_person(pose, other) for other in poses.values()):
                    poses[track.slot], track.roi, track.last = pose, pose.next_roi, pose
                else:
                    track.roi, just_lost = None, True
        self._since_detect += 1
        alive = len(poses)
        if alive < self.max_persons and (alive == 0 or just_lost or self._since_detect >= REDETECT_EVERY):
            self._since_detect = 0
            poses.update(self._find_new(frame, poses))
        return poses

    def _find_new(self, frame: np.ndarray, poses: dict[int, Pose]) -> dict[int, Pose]:
        start = time.perf_counter()
        detections = self.detector.detect(frame)
        self.timing.detect_ms += (time.perf_counter() - start) * 1e3
        followed = [p.next_roi for p in poses.values()]
        found: list[Pose] = []
        for detection in detections:
            if len(poses) + len(found) >= self.max_persons:
                break
            roi = detection.roi()
            if any(np.hypot(roi.cx - f.cx, roi.cy - f.cy) < SAME_CENTER * f.size for f in followed):
                continue
            pose = self._pose(frame, roi)
            if pose.present and not any(same_person(pose, p) for p in [*poses.values(), *found]):
                found.append(pose)
        new: dict[int, Pose] = {}
        for pose in sorted(found, key=lambda p: p.next_roi.cx):  # slots opened together: left to right
            track = self._slot_for(pose, busy=set(poses) | set(new))
            if track is not None:
                track.roi, track.last = pose.next_roi, pose
                new[track.slot] = pose
        return new

    def _slot_for(self, pose: Pose, busy: set[int]) -> Track | None:
        lost = [t for t in self.tracks if t.slot not in busy and t.roi is None]
        if lost:
            center = pose.keypoint.mean(0)
            return min(lost, key=lambda t: float(np.hypot(*(t.last.keypoint.mean(0) - center))))
        if len(self.tracks) < self.max_persons:
            self.tracks.append(Track(len(self.tracks), None, pose))
            return self.tracks[-1]
        return None

    def _pose(self, frame: np.ndarray, roi: Roi) -> Pose:
        start = time.perf_counter()
        pose = self.model(frame, roi)
        self.timing.pose_ms += (time.perf_counter() - start) * 1e3
        return pose


def body_box(pose: Pose) -> np.ndarray:
    return np.concatenate([pose.keypoint.min(0), pose.keypoint.max(0)])


def same_person(a: Pose, b: Pose) -> bool:
    """Two poses of one person: their joints lie close together for their size (or their boxes nearly coincide)."""
    box = body_box(b)
    size = max(float(np.hypot(box[2] - box[0], box[3] - box[1])), 1.0)
    close = float(np.mean(np.hypot(*(a.keypoint - b.keypoint).T))) < SAME_PERSON * size
    return close or float(iou(body_box(a), box[None])[0]) > 0.8
