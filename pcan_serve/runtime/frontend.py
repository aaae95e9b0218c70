"""The half of inference that needs only the model's description, not its weights.

Request checks, decode + preprocess (``prepare``), late fusion and the prediction output object
(``format``). The HTTP API process runs this half alone (``Frontend(meta, ...)``): its model process holds
the backend. :class:`~pcan_serve.runtime.Predictor` adds a backend for one-process use (CLI, library).
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidRequest
from ..model.scores import LATE, check_fusion_weights, fusion_name, with_late_fusion
from ..model_io import ModelMeta
from ..preprocess import check_num_clips, make_inputs
from .output import success

FUSIONS = ("late", "fused")


@dataclass
class Prepared:
    """One item's model inputs (all its clips) and the time its stages took."""

    name: str
    imgs: np.ndarray  # [clips, 3, T, H, W]
    heatmaps: np.ndarray  # [clips, 17, T', h, w]
    timing_ms: dict[str, float] = field(default_factory=dict)


class Frontend:
    """Checks, prepares and formats requests for the model ``meta`` describes, served by ``backend_name``."""

    def __init__(
        self,
        meta: ModelMeta,
        backend_name: str,
        fusion_weights: tuple[float, float] | None = None,
        max_frames: int | None = None,
        max_persons: int | None = None,
        max_skeleton_bytes: int | None = None,
        max_pixels: int | None = None,
    ) -> None:
        self.meta = meta
        self.config = meta.config
        self.backend_name = backend_name
        self.fusion_weights = check_fusion_weights(fusion_weights or meta.fusion_weights)
        limits = {
            "max_frames": max_frames,
            "max_pixels": max_pixels,
            "max_persons": max_persons,
            "max_skeleton_bytes": max_skeleton_bytes,
        }
        self.limits = {k: v for k, v in limits.items() if v}

    @property
    def model_info(self) -> dict[str, Any]:
        return {
            "name": f"pcan-{self.config.name}",
            "backend": self.backend_name,
            "weights": self.meta.weights,
            "fused_head": self.meta.fused_head,
            "calibrated": self.meta.calibrated,
        }

    def check_request(self, top_k: int | None = None, fusion: str | None = None, num_clips: int | None = None) -> None:
        """Validate the request parameters given (None: not part of this request) before any decoding."""
        n = len(self.config.class_names)
        if top_k is not None and not 1 <= top_k <= n:
            raise InvalidRequest(f"top_k must be between 1 and {n}, got {top_k}")
        if fusion is not None and fusion not in FUSIONS:
            raise InvalidRequest(f"fusion must be 'late' or 'fused', got {fusion!r}")
        if fusion == "fused" and not self.meta.fused_head:
            raise InvalidRequest("fusion 'fused' needs a trained fused head; this model has none (use 'late')")
        if num_clips is not None:
            check_num_clips(num_clips)

    def default_top_k(self, wanted: int = 5) -> int:
        return min(wanted, len(self.config.class_names))

    def prepare(self, video: Any, skeleton: Any, num_clips: int = 1, name: str | None = None) -> Prepared:
        """Decode and preprocess one item (``make_inputs`` checks ``num_clips`` before any work)."""
        timings: dict[str, float] = {}
        inputs = make_inputs(
            video, skeleton, num_clips=num_clips, config=self.config.preprocess, timings=timings, **self.limits
        )
        label = name if name is not None else (str(video) if isinstance(video, (str, Path)) else "upload")
        return Prepared(label, inputs["imgs"], inputs["heatmaps"], timings)

    def fuse(self, probs: dict[str, np.ndarray], fusion: str = "late") -> tuple[dict[str, np.ndarray], str, str]:
        """Adds the late fusion (``model.scores``); returns the served key and its name."""
        fused = fusion == "fused"
        label = fusion_name(None if fused else self.fusion_weights)
        return with_late_fusion(probs, self.fusion_weights), ("fused" if fused else LATE), label

    def format(
        self, item: Prepared, probs: dict[str, np.ndarray], top_k: int = 5, fusion: str = "late"
    ) -> dict[str, Any]:
        """The prediction output object for one item's clip-averaged probabilities."""
        self.check_request(top_k=top_k, fusion=fusion)
        fused, key, label = self.fuse(probs, fusion)
        timing = {k: item.timing_ms.get(k, 0.0) for k in ("decode", "preprocess", "inference")}
        timing["total"] = sum(timing.values())
        return success(item.name, fused, key, label, self.config.class_names, top_k, self.model_info, timing)
