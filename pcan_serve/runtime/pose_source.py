"""The pose estimator a Frontend uses for video-only requests: loaded on the first one, then shared by every
thread (each of its models runs one call at a time), so a process that only ever gets skeletons never loads it."""

import threading
from pathlib import Path

from ..pose import PoseEstimator, load_estimator
from ..pose.estimate import DEFAULT_PERSONS
from ..preprocess import Limits


class PoseSource:
    """``pose_model``: an RTMPose-style ONNX file, or None for BlazePose; at most two persons (NTU's two-person
    actions), never more than ``limits.max_persons``."""

    def __init__(self, pose_model: str | Path | None, limits: Limits) -> None:
        self.pose_model = pose_model
        self.max_persons = min(DEFAULT_PERSONS, limits.max_persons)
        self.cap = limits.max_persons
        self._estimator: PoseEstimator | None = None
        self._lock = threading.Lock()

    def estimator(self) -> PoseEstimator:
        with self._lock:
            if self._estimator is None:
                self._estimator = load_estimator(self.pose_model, max_persons=self.max_persons, cap=self.cap)
            return self._estimator
