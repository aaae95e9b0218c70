"""The half of inference that needs only the model's description, not its weights.

Request checks, decode + preprocess (``prepare``), late fusion and the prediction object (``format``). The
HTTP API process runs this half alone (``Frontend(meta, ...)``): its model process holds the backend.
:class:`~pcan_serve.runtime.Predictor` adds a backend for one-process use (CLI, library).
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidRequest
from ..model.scores import LATE, check_fusion_weights, fusion_name, with_late_fusion
from ..model_io import ModelMeta
from ..pose import make_inputs_estimated
from ..preprocess import Limits, make_inputs
from ..preprocess.decode_cuda import resolve_decode_device
from ..preprocess.pipeline import Stopwatch, check_num_clips, load_skeleton_within
from .output import make_prediction
from .pose_source import PoseSource
from .prediction import Prediction, ServedModel, SkeletonInfo
from .request import PredictOptions

FUSIONS = ("late", "fused")
STAGES = ("decode", "pose", "preprocess", "inference")  # an item's timings; their sum is its total
DEFAULT_TOP_K = 5


@dataclass
class Prepared:
    """One item's model inputs (all its clips) and the time its stages took."""

    name: str
    imgs: np.ndarray  # [clips, 3, T, H, W]
    heatmaps: np.ndarray  # [clips, 17, T', h, w]
    timing_ms: dict[str, float] = field(default_factory=dict)
    skeleton: SkeletonInfo | None = None  # where the skeleton came from (None: arrays made elsewhere)


class Frontend:
    """Checks, prepares and formats requests for the model ``meta`` describes, served by ``backend_name``."""

    def __init__(
        self,
        meta: ModelMeta,
        backend_name: str,
        limits: Limits | None = None,
        fusion_weights: tuple[float, float] | None = None,
        decode_device: str = "cpu",
        pose_model: str | Path | None = None,
    ) -> None:
        self.meta = meta
        self.decode_device = resolve_decode_device(decode_device)  # cpu | cuda (NVDEC) | auto
        self.config = meta.config
        self.backend_name = backend_name
        self.limits = limits or Limits()
        self.pose = PoseSource(pose_model, self.limits)
        self.fusion_weights = check_fusion_weights(fusion_weights or meta.fusion_weights)
        self.served_model = ServedModel(
            name=f"pcan-{self.config.name}",
            backend=backend_name,
            weights=meta.weights,
            fused_head=meta.fused_head,
            calibrated=meta.calibrated,
        )

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
            check_num_clips(num_clips, self.limits.max_clips)

    def check(self, options: PredictOptions) -> PredictOptions:
        """``options`` held against this model and the limits (before any decoding); top_k filled in."""
        top_k = self.top_k_or_default(options.top_k)
        self.check_request(top_k=top_k, fusion=options.fusion, num_clips=options.num_clips)
        return options.model_copy(update={"top_k": top_k})

    def top_k_or_default(self, top_k: int | None) -> int:
        """``top_k`` as given, or 5 capped at the class count (a 4-class model lists 4)."""
        return top_k if top_k is not None else min(DEFAULT_TOP_K, len(self.config.class_names))

    def prepare(self, video: Any, skeleton: Any, num_clips: int = 1, name: str | None = None) -> Prepared:
        """Decode and preprocess one item; ``skeleton`` None: estimated on the frames the pose branch samples
        (``pcan_serve.pose``). ``num_clips`` is checked before any work."""
        timings: dict[str, float] = {}
        cfg, lim, device = self.config.preprocess, self.limits, self.decode_device
        if skeleton is None:
            inputs, info = make_inputs_estimated(video, self.pose.estimator(), num_clips, cfg, lim, timings, device)
            source = SkeletonInfo(source="estimated", persons=info.persons, estimator=info.estimator)
        else:
            with Stopwatch(timings)("preprocess"):
                skeleton = load_skeleton_within(skeleton, lim)
            inputs = make_inputs(video, skeleton, num_clips, cfg, lim, timings, device)
            source = SkeletonInfo(source="uploaded", persons=skeleton.num_persons)
        label = name if name is not None else (str(video) if isinstance(video, (str, Path)) else "upload")
        return Prepared(label, inputs["imgs"], inputs["heatmaps"], timings, source)

    def format(
        self, item: Prepared, probs: dict[str, np.ndarray], top_k: int | None = None, fusion: str = "late"
    ) -> Prediction:
        """The prediction object for one item's clip-averaged probabilities (late fusion: ``model.scores``)."""
        top_k = self.top_k_or_default(top_k)
        self.check_request(top_k=top_k, fusion=fusion)
        scores, served, label = self.served_scores(probs, fusion)
        timing = {k: item.timing_ms.get(k, 0.0) for k in STAGES}
        timing["total"] = sum(timing.values())
        names, model = self.config.class_names, self.served_model
        if item.skeleton is None:
            raise ValueError(f"{item.name}: prepared without a skeleton source; use Frontend.prepare")
        return make_prediction(item.name, scores, served, label, names, top_k, model, item.skeleton, timing)

    def served_scores(self, probs: dict[str, np.ndarray], fusion: str) -> tuple[dict[str, np.ndarray], str, str]:
        """The branches plus their late fusion (``model.scores``), the served key and the fusion's name."""
        fused = fusion == "fused"
        label = fusion_name(None if fused else self.fusion_weights)
        return with_late_fusion(probs, self.fusion_weights), ("fused" if fused else LATE), label
