"""The prediction output object (DESIGN.md "Prediction output"): one CLI line = one HTTP response body."""

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import PCANError


def top_k(probs: np.ndarray, class_names: Sequence[str], k: int) -> list[dict[str, Any]]:
    k = max(1, min(k, probs.shape[0]))
    order = np.argsort(-probs, kind="stable")[:k]
    return [{"label": int(i), "name": class_names[i], "score": float(probs[i])} for i in order]


def success(
    video: str,
    branch_probs: dict[str, np.ndarray],
    fused_key: str,
    fusion_label: str,
    class_names: Sequence[str],
    k: int,
    model: dict[str, Any],
    timing_ms: dict[str, float],
) -> dict[str, Any]:
    """``branch_probs`` holds rgb, pose, optional fused, and the served key (``late`` or ``fused``)."""
    served = top_k(branch_probs[fused_key], class_names, k)
    branches = {
        b: {"top_k": top_k(branch_probs[b], class_names, k)} for b in ("rgb", "pose", "fused") if b in branch_probs
    }
    return {
        "video": video,
        "ok": True,
        "prediction": served[0],
        "fusion": fusion_label,
        "top_k": served,
        "branches": branches,
        "model": model,
        "timing_ms": {k_: round(v, 3) for k_, v in timing_ms.items()},
    }


def failure(video: str, error: BaseException) -> dict[str, Any]:
    if isinstance(error, PCANError):
        kind, message = error.type, str(error)
    else:  # an unexpected failure is still one bad item, reported by its exception type
        kind, message = type(error).__name__, str(error) or repr(error)
    return {"video": video, "ok": False, "error": {"type": kind, "message": message}}
