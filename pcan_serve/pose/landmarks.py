"""BlazePose full landmark model (``pose_landmark_full.tflite``) on one person's ROI -> COCO-17 keypoints.

Input and output as mediapipe's ``pose_landmark_by_roi_cpu.pbtxt`` and ``tensors_to_pose_landmarks_and_
segmentation.pbtxt`` define them: the ROI resampled to 256x256 RGB in [0, 1]; output ``Identity`` holds 39 x (x,
y, z, visibility, presence) with x, y in input pixels and visibility/presence as logits (sigmoid); landmarks 0-32
are BlazePose's, 33-34 the auxiliary centre and scale points that place the next frame's ROI (the same
alignment as the detector's keypoints 0-1); ``Identity_1`` is the pose presence score (already in [0, 1], cut at
0.5). The heatmap refinement and the temporal smoothing filter of mediapipe's graph are left out.

The ROI is turned as the detector's (or the previous frame's) alignment points say, so a leaning person is seen
upright by the model, as in mediapipe.
"""

from dataclasses import dataclass

import numpy as np

from .geometry import Roi, sigmoid
from .litert import TFLiteModel

SIZE = 256
NUM_LANDMARKS = 39
BLAZEPOSE_TO_COCO = [0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28]
CENTER, SCALE_POINT = 33, 34
MIN_PRESENCE = 0.5  # mediapipe Pose's default min_tracking_confidence
ROI_SCALE = 1.25  # the next frame's ROI from the auxiliary points, as from the detector's


@dataclass(frozen=True)
class Pose:
    keypoint: np.ndarray  # float32 [17, 2] COCO-17, frame pixels
    score: np.ndarray  # float32 [17] visibility in [0, 1]
    presence: float  # pose presence in the ROI, [0, 1]
    next_roi: Roi  # where to look in the next frame

    @property
    def present(self) -> bool:
        return self.presence >= MIN_PRESENCE


class LandmarkModel:
    name = "blazepose-full"

    def __init__(self, model: TFLiteModel) -> None:
        self.model = model
        self._out = ("Identity", "Identity_1")

    def __call__(self, frame: np.ndarray, roi: Roi) -> Pose:
        """The pose inside ``roi`` of a uint8 RGB frame [H, W, 3]."""
        crop = roi.crop(frame, SIZE).astype(np.float32) * np.float32(1 / 255)
        out = self.model(crop[None], self._out)
        values = out[self._out[0]].reshape(NUM_LANDMARKS, 5)
        points = roi.to_frame(values[:, :2].astype(np.float64), SIZE)
        visibility = sigmoid(values[:, 3])
        presence = float(np.asarray(out[self._out[1]]).reshape(-1)[0])
        return Pose(
            keypoint=points[BLAZEPOSE_TO_COCO].astype(np.float32),
            score=visibility[BLAZEPOSE_TO_COCO].astype(np.float32),
            presence=presence,
            next_roi=Roi.from_alignment(points[CENTER], points[SCALE_POINT], ROI_SCALE),
        )
