"""The person box of mmaction2's ``MMCompact(hw_ratio=1., allow_imgpad=True)``, computed from keypoints alone.

The box depends only on the sampled keypoints, so it is known before any frame is decoded. Arithmetic stays
in float32 in mmaction2's order, and ``int()`` truncates toward zero, so boxes match to the pixel.
A coordinate that is exactly 0 means "missing" there: it is ignored for the box and never shifted.
"""

import numpy as np

from ..errors import SkeletonVideoMismatch

Box = tuple[int, int, int, int]  # x0, y0, x1, y1; may reach outside the frame (zero padding)


def compact_box(
    keypoint: np.ndarray,
    frame_shape: tuple[int, int],
    padding: float = 0.25,
    threshold: int = 10,
    hw_ratio: float = 1.0,
) -> Box:
    """Box around every non-zero coordinate, grown by ``padding`` and to ``hw_ratio``; the frame if too small."""
    height, width = frame_shape
    xs, ys = keypoint[..., 0], keypoint[..., 1]
    x_lo = np.min(xs[xs != 0], initial=np.inf)
    y_lo = np.min(ys[ys != 0], initial=np.inf)
    x_hi = np.max(xs[xs != 0], initial=-np.inf)
    y_hi = np.max(ys[ys != 0], initial=-np.inf)
    if x_hi - x_lo < threshold or y_hi - y_lo < threshold:
        return 0, 0, width, height

    cx, cy = (x_hi + x_lo) / 2, (y_hi + y_lo) / 2
    half_w = (x_hi - x_lo) / 2 * (1 + padding)
    half_h = (y_hi - y_lo) / 2 * (1 + padding)
    half_h = max(hw_ratio * half_w, half_h)
    half_w = max(1 / hw_ratio * half_h, half_w)
    return int(cx - half_w), int(cy - half_h), int(cx + half_w), int(cy + half_h)


def shift_keypoints(keypoint: np.ndarray, box: Box) -> None:
    """Move keypoints into box coordinates, in place; zeros (missing) stay zero."""
    xs, ys = keypoint[..., 0], keypoint[..., 1]
    xs[xs != 0] -= box[0]
    ys[ys != 0] -= box[1]


def check_box(box: Box, frame_shape: tuple[int, int], max_scale: float) -> None:
    """Refuse boxes far larger than the frame: only keypoints far outside it make them, and the padded
    crop would cost memory without bound."""
    side = max(frame_shape) * max_scale
    box_w, box_h = box[2] - box[0], box[3] - box[1]
    if box_w > side or box_h > side:
        raise SkeletonVideoMismatch(
            f"keypoint: the joints span a {box_w}x{box_h} box for {frame_shape[1]}x{frame_shape[0]} frames; "
            f"expected coordinates within about the frame (at most {max_scale:g}x its longer side)"
        )
