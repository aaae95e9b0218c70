"""An RTMPose-style top-down ONNX model (``pcan ... --pose-model M.onnx``) as the pose model, on ONNX Runtime.

For users who hold such weights and want keypoints defined like the HRNet ones NTU-60 models are trained on
(COCO's annotation, unlike BlazePose's hips and face points). What the published export takes (mmpose's RTMPose
configs, exported by mmdeploy with ``output_names=['simcc_x', 'simcc_y']``): one person crop ``float32
[1, 3, H, W]`` (256x192 for the COCO models; read from the file when static), RGB, normalised with ImageNet's mean
(123.675, 116.28, 103.53) and std (58.395, 57.12, 57.375) per channel — the normalisation is not in the graph
(mmpose's data preprocessor does it); the crop is the person box grown 1.25x and widened or heightened to W:H
(``GetBBoxCenterScale(padding=1.25)`` + ``TopdownAffine``). Outputs ``simcc_x [1, K, W * r]`` and ``simcc_y
[1, K, H * r]`` (split ratio r = 2.0, taken from the lengths): a joint lies at argmax / r input pixels, its score is
the smaller of the two maxima (mmpose's ``get_simcc_maximum``), clipped to [0, 1] here. The first 17 of K joints
are used (COCO-17; COCO-WholeBody models start with the same 17). Person boxes come from the BlazePose detector,
then from each person's previous keypoints (:mod:`.tracker`); crops are not turned.
"""

from pathlib import Path

import cv2
import numpy as np

from ..errors import BackendUnavailable, CheckpointError, MissingInput
from ..model_io.onnx_session import open_session
from ..preprocess.skeleton_io import NUM_JOINTS
from .geometry import Roi
from .landmarks import Pose

MEAN = np.array([123.675, 116.28, 103.53], dtype=np.float32)
STD = np.array([58.395, 57.12, 57.375], dtype=np.float32)
DEFAULT_INPUT = (256, 192)  # H, W
PADDING = 1.25
CONFIDENT = 0.3  # a joint counts as found above this score; a person is present when half the joints are


class RTMPoseModel:
    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        if not path.is_file():
            raise MissingInput(f"pose model not found: {path}")
        try:
            self.session = open_session(path)
        except CheckpointError as exc:  # a pose model that cannot load leaves the request unservable, not invalid
            raise BackendUnavailable(f"pose model {path.name}: {exc}") from None
        inp = self.session.get_inputs()[0]
        dims = inp.shape[2:] if len(inp.shape) == 4 else []
        static = len(dims) == 2 and all(isinstance(d, int) and d > 0 for d in dims)
        self.input_name, self.input_hw = inp.name, tuple(dims) if static else DEFAULT_INPUT
        names = [o.name for o in self.session.get_outputs()]
        self.outputs = ["simcc_x", "simcc_y"] if {"simcc_x", "simcc_y"} <= set(names) else names[:2]
        if len(self.outputs) != 2:
            raise BackendUnavailable(f"pose model {path.name}: expected two outputs (simcc_x, simcc_y), got {names}")
        self.name = f"onnx:{path.name}"

    def crop(self, frame: np.ndarray, roi: Roi) -> tuple[np.ndarray, float]:
        """float32 [1, 3, H, W] normalised crop of height ``roi.size`` centred on the ROI, and its frame pixels
        per input pixel."""
        height, width = self.input_hw
        s = roi.size / height
        matrix = np.array(
            [[s, 0.0, roi.cx - 0.5 + (0.5 - width / 2) * s], [0.0, s, roi.cy - 0.5 + (0.5 - height / 2) * s]]
        )
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        crop = cv2.warpAffine(frame, matrix, (width, height), flags=flags, borderMode=cv2.BORDER_CONSTANT)
        x = (crop.astype(np.float32) - MEAN) / STD
        return x.transpose(2, 0, 1)[None], s

    def __call__(self, frame: np.ndarray, roi: Roi) -> Pose:
        x, s = self.crop(frame, roi)
        simcc_x, simcc_y = self.session.run(self.outputs, {self.input_name: x})
        height, width = self.input_hw
        points, score = decode_simcc(simcc_x[0, :NUM_JOINTS], simcc_y[0, :NUM_JOINTS], width, height)
        keypoint = np.stack([roi.cx + (points[:, 0] - width / 2) * s, roi.cy + (points[:, 1] - height / 2) * s], 1)
        found = score > CONFIDENT
        return Pose(
            keypoint=keypoint.astype(np.float32),
            score=score,
            presence=float(found.mean()),
            next_roi=box_roi(keypoint[found] if found.sum() >= 2 else keypoint, width / height),
        )


def decode_simcc(simcc_x: np.ndarray, simcc_y: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """([K, 2] input pixels, [K] scores in [0, 1]) from SimCC vectors [K, W * r], [K, H * r]."""
    if simcc_x.shape[0] < NUM_JOINTS or simcc_y.shape[0] < NUM_JOINTS:
        raise BackendUnavailable(f"pose model: {simcc_x.shape[0]} joints, at least {NUM_JOINTS} (COCO) are needed")
    ratio_x, ratio_y = simcc_x.shape[1] / width, simcc_y.shape[1] / height
    points = np.stack([simcc_x.argmax(1) / ratio_x, simcc_y.argmax(1) / ratio_y], axis=1)
    score = np.minimum(simcc_x.max(1), simcc_y.max(1))
    return points, np.clip(score, 0.0, 1.0).astype(np.float32)


def box_roi(points: np.ndarray, aspect: float) -> Roi:
    """The next crop around keypoints: their box grown ``PADDING``x, its height fitting the W:H ``aspect``."""
    lo, hi = points.min(0), points.max(0)
    w, h = hi - lo
    return Roi(float(lo[0] + hi[0]) / 2, float(lo[1] + hi[1]) / 2, max(float(h), float(w) / aspect, 1.0) * PADDING)
