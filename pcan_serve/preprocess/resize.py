"""Crop the person box out of frames (zero padding outside them) and resize it, as MMCompact + Resize do.

mmaction2 pads whole frames with ``np.pad`` and then slices; copying only the box's overlap onto a zero
canvas gives the same pixels. The resize is cv2's bilinear (``INTER_LINEAR``, mmcv ``imresize``'s default)
on the same pixels, so the results are identical, at a fraction of the copying.
"""

import cv2
import numpy as np

from .compact import Box


class BoxResizer:
    """Crops one box out of frames of one size and resizes it to ``size`` x ``size``, frame after frame."""

    def __init__(self, box: Box, frame_shape: tuple[int, int], size: int, channels: int = 3) -> None:
        x0, y0, x1, y1 = box
        height, width = frame_shape
        self.size = size
        self._box = box
        self._canvas: np.ndarray | None = None
        if not (x0 >= 0 and y0 >= 0 and x1 <= width and y1 <= height):
            # the zero border is the same for every frame: allocate it once, overwrite only the overlap
            self._canvas = np.zeros((y1 - y0, x1 - x0, channels), dtype=np.uint8)
            ix0, iy0, ix1, iy1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
            self._overlap = (slice(iy0, iy1), slice(ix0, ix1)) if ix1 > ix0 and iy1 > iy0 else None
            self._inner = (slice(iy0 - y0, iy1 - y0), slice(ix0 - x0, ix1 - x0))

    def __call__(self, frame: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """``dst`` (uint8 [size, size, C]) = the box of ``frame`` (uint8 [H, W, C]), bilinear."""
        if self._canvas is None:
            x0, y0, x1, y1 = self._box
            src = frame[y0:y1, x0:x1]  # a strided view: no copy at all
        else:
            if self._overlap is not None:
                self._canvas[self._inner] = frame[self._overlap]
            src = self._canvas
        cv2.resize(src, (self.size, self.size), dst=dst, interpolation=cv2.INTER_LINEAR)
        return dst


def resize_keypoints(keypoint: np.ndarray, box: Box, size: int) -> np.ndarray:
    """Box-relative keypoints scaled to the resized frame (float32, with mmaction2's factor rounding)."""
    factor = np.array([size / (box[2] - box[0]), size / (box[3] - box[1])], dtype=np.float32)
    return keypoint * factor
