"""Square, possibly rotated regions of a frame (mediapipe's ``NormalizedRect`` in pixels) and their crops.

Coordinates are continuous pixels: pixel ``i`` covers ``[i, i + 1)``, as mediapipe's normalised coordinates
times the frame size (the skeleton format's convention); OpenCV's pixel centres sit at ``i`` instead, hence the
half-pixel terms below.
"""

import math
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Roi:
    """A square of side ``size`` centred on (``cx``, ``cy``), turned by ``angle`` radians (clockwise on screen)."""

    cx: float
    cy: float
    size: float
    angle: float = 0.0

    @classmethod
    def from_alignment(cls, center: np.ndarray, scale_point: np.ndarray, scale: float) -> "Roi":
        """mediapipe's ``AlignmentPointsRectsCalculator`` (target angle 90 degrees) + ``RectTransformation``
        (``square_long``, ``scale``): centred on ``center``; the distance to ``scale_point`` is the radius of the
        body's circle, and the direction to it is "up" in the crop."""
        dx, dy = float(scale_point[0] - center[0]), float(scale_point[1] - center[1])
        angle = math.pi / 2 - math.atan2(-dy, dx)
        angle = (angle + math.pi) % (2 * math.pi) - math.pi
        return cls(float(center[0]), float(center[1]), 2.0 * math.hypot(dx, dy) * scale, angle)

    def to_frame(self, points: np.ndarray, side: int) -> np.ndarray:
        """Points [..., 2] in the pixels of a ``side`` x ``side`` crop of this ROI -> frame pixels."""
        n = points / side - 0.5
        cos, sin = math.cos(self.angle), math.sin(self.angle)
        x = self.cx + self.size * (cos * n[..., 0] - sin * n[..., 1])
        y = self.cy + self.size * (sin * n[..., 0] + cos * n[..., 1])
        return np.stack([x, y], axis=-1)

    def crop(self, frame: np.ndarray, side: int) -> np.ndarray:
        """uint8 [side, side, 3]: the ROI resampled (bilinear; outside the frame: the border pixels repeated)."""
        s, cos, sin = self.size / side, math.cos(self.angle), math.sin(self.angle)
        h = 0.5 / side - 0.5  # normalised offset of output pixel 0's centre
        matrix = np.array(
            [
                [s * cos, -s * sin, self.cx - 0.5 + self.size * (cos * h - sin * h)],
                [s * sin, s * cos, self.cy - 0.5 + self.size * (sin * h + cos * h)],
            ]
        )
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        return cv2.warpAffine(frame, matrix, (side, side), flags=flags, borderMode=cv2.BORDER_REPLICATE)


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of boxes ``a`` [4] against ``b`` [N, 4] (x0, y0, x1, y1)."""
    w = np.clip(np.minimum(a[2], b[:, 2]) - np.maximum(a[0], b[:, 0]), 0, None)
    h = np.clip(np.minimum(a[3], b[:, 3]) - np.maximum(a[1], b[:, 1]), 0, None)
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -80.0, 80.0)))  # exp(80) still fits float32
