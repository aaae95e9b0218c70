"""Probabilities -> the prediction object (``prediction.py``): top-k per branch, the served fusion first."""

from collections.abc import Mapping, Sequence

import numpy as np

from ..model_io.meta import BRANCHES
from .prediction import BranchScores, ClassScore, Prediction, ServedModel, SkeletonInfo, Timing, Window


def top_k(probs: np.ndarray, class_names: Sequence[str], k: int) -> list[ClassScore]:
    """The ``k`` most probable classes (ties in class order)."""
    k = max(1, min(k, probs.shape[0]))
    order = np.argsort(-probs, kind="stable")[:k]
    return [ClassScore(label=int(i), name=class_names[i], score=float(probs[i])) for i in order]


def ranked(
    probs: Mapping[str, np.ndarray], served: str, class_names: Sequence[str], k: int
) -> tuple[list[ClassScore], dict[str, BranchScores]]:
    """The served key's top-k and each branch's (rgb, pose, fused where present)."""
    branches = {b: BranchScores(top_k=top_k(probs[b], class_names, k)) for b in BRANCHES if b in probs}
    return top_k(probs[served], class_names, k), branches


def make_window(
    start: float, end: float, probs: Mapping[str, np.ndarray], served: str, class_names: Sequence[str], k: int
) -> Window:
    """One timeline window's entry (seconds rounded to the millisecond)."""
    best, branches = ranked(probs, served, class_names, k)
    return Window(start=round(start, 3), end=round(end, 3), top_k=best, branches=branches)


def make_prediction(
    video: str,
    probs: Mapping[str, np.ndarray],
    served: str,
    fusion: str,
    class_names: Sequence[str],
    k: int,
    model: ServedModel,
    skeleton: SkeletonInfo,
    timing_ms: Mapping[str, float],
) -> Prediction:
    """``probs`` holds rgb, pose, optional fused, and the ``served`` key (``late`` or ``fused``)."""
    best, branches = ranked(probs, served, class_names, k)
    return Prediction(
        video=video,
        prediction=best[0],
        fusion=fusion,
        top_k=best,
        branches=branches,
        model=model,
        skeleton=skeleton,
        timing_ms=Timing(**{k_: round(v, 3) for k_, v in timing_ms.items()}),
    )
