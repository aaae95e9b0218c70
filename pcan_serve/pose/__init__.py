"""2D pose estimation: video frames -> persons -> COCO-17 keypoints + scores in the skeleton input format.

A stage of its own, upstream of preprocessing (it imports ``preprocess`` for decoding, never the other way).
Default estimator: BlazePose (person detector + full landmark model, Apache-2.0) on LiteRT, weights extracted
at install time (:mod:`.install`); optional: an RTMPose-style ONNX model (:mod:`.rtmpose`). See docs/pose.md.

    estimator = load_estimator(max_persons=2)                   # once per process (models load in ~0.1 s)
    inputs, info = make_inputs_estimated("clip.mp4", estimator)  # a video-only request's model inputs
    result = estimator.estimate("clip.mp4")                     # every frame: result.skeleton, result.info
"""

from pathlib import Path

from ..preprocess.limits import DEFAULT_MAX_PERSONS
from .detector import Detector
from .estimate import DEFAULT_PERSONS, PoseEstimator, PoseInfo, PoseResult, PoseSession, check_max_persons
from .inputs import make_inputs_estimated
from .landmarks import LandmarkModel
from .litert import TFLiteModel
from .weights import DETECTOR, LANDMARKS, model_path


def load_estimator(
    pose_model: str | Path | None = None,
    max_persons: int = DEFAULT_PERSONS,
    cap: int = DEFAULT_MAX_PERSONS,
) -> PoseEstimator:
    """BlazePose (default), or the RTMPose-style ONNX ``pose_model`` on BlazePose's person detector; at most
    ``max_persons`` per video, which may not exceed ``cap`` (the service's ``PCAN_MAX_PERSONS``)."""
    check_max_persons(max_persons, cap)  # before any model loads
    detector = Detector(TFLiteModel(model_path(DETECTOR)))
    if pose_model is None:
        model = LandmarkModel(TFLiteModel(model_path(LANDMARKS)))
    else:
        from .rtmpose import RTMPoseModel

        model = RTMPoseModel(pose_model)
    return PoseEstimator(detector, model, max_persons, cap)


__all__ = [
    "DEFAULT_PERSONS",
    "PoseEstimator",
    "PoseInfo",
    "PoseResult",
    "PoseSession",
    "check_max_persons",
    "load_estimator",
    "make_inputs_estimated",
]
