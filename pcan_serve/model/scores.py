"""How PCAN's logits become the scores it serves: one home for each rule, used by every runtime, the exported
graph, training's metrics and calibration, so the numbers a user sees are computed one way everywhere.

* **Temperature scaling** (calibration): ``softmax(logits / T)`` per branch; ``T = 1`` leaves a branch as it is.
* **Late fusion**: ``(w_rgb * p_rgb + w_pose * p_pose) / (w_rgb + w_pose)`` over probabilities (mmaction2's
  ``RGBPose`` score; 1:1 by default), named ``late_R:P`` in answers.

The functions are plain arithmetic, so they take NumPy arrays and torch tensors alike.
"""

import math
from collections.abc import Mapping
from typing import Any, TypeVar

import torch

A = TypeVar("A")

DEFAULT_FUSION_WEIGHTS = (1.0, 1.0)  # rgb:pose of late fusion when a model file names none
LATE = "late"  # the key of the late fusion beside the branches


def check_fusion_weights(weights: Any) -> tuple[float, float]:
    """Two finite, non-negative numbers, not both zero (rgb, pose); raises ValueError otherwise."""
    try:
        rgb, pose = (float(w) for w in weights)
    except (TypeError, ValueError):
        raise ValueError(f"fusion weights must be two numbers (rgb, pose), not {weights!r}") from None
    if not (math.isfinite(rgb) and math.isfinite(pose)) or min(rgb, pose) < 0 or rgb + pose <= 0:
        raise ValueError(f"fusion weights must be non-negative and not both zero, not {weights!r}")
    return rgb, pose


def parse_fusion_weights(text: str) -> tuple[float, float]:
    """``"R:P"`` (e.g. ``1:1``, ``2:1``, ``0.6:0.4``) -> checked weights; ValueError with the expected form."""
    parts = text.split(":")
    if len(parts) != 2:
        raise ValueError(f"fusion weights must look like RGB:POSE (e.g. 1:1 or 2:1), got {text!r}")
    try:
        return check_fusion_weights(float(p) for p in parts)
    except ValueError:
        raise ValueError(f"fusion weights must look like RGB:POSE with non-negative numbers, got {text!r}") from None


def late_fusion(p_rgb: A, p_pose: A, weights: tuple[float, float]) -> A:
    """The weighted mean of the two branches' probabilities (weights as :func:`check_fusion_weights` accepts)."""
    w_rgb, w_pose = weights
    return (w_rgb * p_rgb + w_pose * p_pose) / (w_rgb + w_pose)  # type: ignore[operator]


def with_late_fusion(probs: Mapping[str, A], weights: tuple[float, float]) -> dict[str, A]:
    """``probs`` (rgb, pose[, fused]) plus their late fusion under the key ``late``."""
    return {**probs, LATE: late_fusion(probs["rgb"], probs["pose"], weights)}


def fusion_name(weights: tuple[float, float] | None) -> str:
    """What an answer's ``fusion`` says: ``late_R:P`` for late fusion, ``fused`` for the fused head (None)."""
    if weights is None:
        return "fused"
    return "late_" + ":".join(f"{w:g}" for w in weights)


def calibrated_softmax(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """``softmax(logits / T)`` over classes (dim 1), in at least fp32; ``T = 1`` adds no division to a graph."""
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()
    if temperature != 1.0:
        logits = logits / temperature
    return torch.softmax(logits, dim=1)
