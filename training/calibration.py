"""Post-hoc calibration of PCAN's served confidences: one temperature per branch and learned late-fusion weights.

Why: a 3D CNN trained with cross-entropy is typically over-confident, so its raw softmax scores overstate how
often it is right, and 1:1 late fusion ignores that the branches differ in strength (rgb ~90 %, pose ~80 %).
Temperature scaling divides a branch's logits by one T > 0 chosen to minimise the negative log-likelihood on
validation logits: confidences change, the argmax never does. The late-fusion weights are then chosen on the
temperature-scaled validation probabilities, by top-1 over a grid (ties -> 1:1, then the lower NLL).

Logits are ``[N, clips, C]``: a served prediction averages softmax probabilities over its clips, so the fit
scores exactly that average. Pure NumPy (float64); docs/architecture.md "Calibration" gives the stored shape.
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from pcan_serve.model.scores import fusion_name, late_fusion

TEMPERATURE_BOUNDS = (0.05, 20.0)
ECE_BINS = 15
FEW_SAMPLES = 100  # below this the fit is reported with a caveat: one T per branch, but from little evidence
ONE_TO_ONE = (1.0, 1.0)
# rgb share 0.0 ... 1.0 in steps of 0.1 (weights sum to 1); the share 0.5 is written 1:1, the default's name
FUSION_GRID = [ONE_TO_ONE] + [(s / 10, (10 - s) / 10) for s in range(11) if s != 5]
_GOLDEN = (math.sqrt(5) - 1) / 2


def _log_probs(logits: np.ndarray, temperature: float) -> np.ndarray:
    """log of the clip-averaged softmax(logits / T): [N, clips, C] -> [N, C]."""
    z = np.asarray(logits, np.float64) / temperature
    z = z - z.max(axis=2, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=2, keepdims=True))
    top = log_p.max(axis=1, keepdims=True)
    return (top + np.log(np.exp(log_p - top).mean(axis=1, keepdims=True)))[:, 0]


def probabilities(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Served probabilities [N, C]: softmax(logits / T) averaged over clips."""
    return np.exp(_log_probs(logits, temperature))


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of the labels under the served probabilities."""
    log_p = _log_probs(logits, temperature)
    return float(-log_p[np.arange(len(labels)), labels].mean())


def prob_nll(probs: np.ndarray, labels: np.ndarray) -> float:
    return float(-np.log(np.clip(probs[np.arange(len(labels)), labels], 1e-300, None)).mean())


def ece(probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> float:
    """Expected calibration error: |accuracy - confidence| over equal-width confidence bins, weighted by size."""
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    index = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)  # bin b holds (b/bins, (b+1)/bins]
    total = 0.0
    for b in np.unique(index):
        member = index == b
        total += member.sum() * abs(correct[member].mean() - confidence[member].mean())
    return float(total / len(labels))


def top1(probs: np.ndarray, labels: np.ndarray) -> float:
    return float((probs.argmax(axis=1) == labels).mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray, tolerance: float = 1e-5) -> float:
    """The T in TEMPERATURE_BOUNDS minimising :func:`nll`: golden-section search on log T.

    With one clip the NLL is convex in 1/T, hence unimodal in log T, which the search needs.
    """
    lo, hi = (math.log(b) for b in TEMPERATURE_BOUNDS)

    def loss(log_t: float) -> float:
        return nll(logits, labels, math.exp(log_t))

    a, b = hi - _GOLDEN * (hi - lo), lo + _GOLDEN * (hi - lo)
    fa, fb = loss(a), loss(b)
    while hi - lo > tolerance:
        if fa <= fb:
            hi, b, fb = b, a, fa
            a = hi - _GOLDEN * (hi - lo)
            fa = loss(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + _GOLDEN * (hi - lo)
            fb = loss(b)
    return math.exp((lo + hi) / 2)


def choose_fusion_weights(
    p_rgb: np.ndarray, p_pose: np.ndarray, labels: np.ndarray
) -> tuple[tuple[float, float], dict[str, float]]:
    """The grid's best weights by top-1 (ties -> 1:1, then the lower NLL) and every candidate's top-1."""
    scored = []
    for weights in FUSION_GRID:
        fused = late_fusion(p_rgb, p_pose, weights)
        scored.append((-top1(fused, labels), weights != ONE_TO_ONE, prob_nll(fused, labels), weights))
    best = min(scored, key=lambda s: s[:3])[3]
    return best, {fusion_name(w): -s[0] for *s, w in scored}


@dataclass(frozen=True)
class CalibrationFit:
    """What calibration found on ``split``: the stored part (:meth:`to_meta`) and the report's extras."""

    temperature: dict[str, float]
    fusion_weights: tuple[float, float]
    ece_before: dict[str, float]
    ece_after: dict[str, float]
    nll_before: dict[str, float]
    nll_after: dict[str, float]
    top1: dict[str, float]  # each branch and each late-fusion candidate, on the calibrated probabilities
    split: str
    num_samples: int

    @property
    def caveat(self) -> str | None:
        """Why the fit deserves less trust, in words; None when nothing stands out."""
        notes = []
        if self.num_samples < FEW_SAMPLES:
            notes.append(f"fitted on only {self.num_samples} samples: temperatures and fusion weights are rough")
        lo, hi = TEMPERATURE_BOUNDS
        bounded = [b for b, t in self.temperature.items() if not lo * 1.001 < t < hi * 0.999]
        if bounded:  # e.g. a branch without a single validation error: the NLL falls all the way to T -> 0
            notes.append(f"temperature at its bound {lo:g} or {hi:g} for {', '.join(bounded)}")
        return "; ".join(notes) or None

    def to_meta(self) -> dict[str, Any]:
        """The model description's ``calibration`` (docs/architecture.md "Calibration")."""
        rgb, pose = self.fusion_weights
        return {
            "temperature": dict(self.temperature),
            "fusion_weights": {"rgb": rgb, "pose": pose},
            "ece_before": dict(self.ece_before),
            "ece_after": dict(self.ece_after),
            "split": self.split,
            "num_samples": self.num_samples,
        }

    def to_dict(self) -> dict[str, Any]:
        return {**self.to_meta(), "nll_before": self.nll_before, "nll_after": self.nll_after, "top1": self.top1}


def fit(logits: Mapping[str, np.ndarray], labels: np.ndarray, split: str = "val") -> CalibrationFit:
    """Temperatures for every branch in ``logits`` (rgb, pose, optional fused), then the late-fusion weights."""
    labels = np.asarray(labels, np.int64)
    if not len(labels):
        raise ValueError("calibration needs at least one validation sample")
    temperature, before, after, nll_before, nll_after, accuracy = {}, {}, {}, {}, {}, {}
    calibrated = {}
    for branch, values in logits.items():
        t = round(fit_temperature(values, labels), 4)
        temperature[branch] = t
        calibrated[branch] = probabilities(values, t)
        before[branch] = ece(probabilities(values), labels)
        after[branch] = ece(calibrated[branch], labels)
        nll_before[branch] = nll(values, labels)
        nll_after[branch] = nll(values, labels, t)
        accuracy[branch] = top1(calibrated[branch], labels)
    weights, fusion_top1 = choose_fusion_weights(calibrated["rgb"], calibrated["pose"], labels)
    return CalibrationFit(
        temperature, weights, before, after, nll_before, nll_after, {**accuracy, **fusion_top1}, split, len(labels)
    )
