"""One inference engine for the CLI, the HTTP service and the benchmarks.

The stages are separate so callers can overlap them: ``prepare`` (decode + preprocess, per item, CPU,
releases the GIL in decord/OpenCV) and ``infer`` (one batched forward over many items' clips). ``predict``
chains them for a single item.
"""

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidRequest
from ..preprocess import make_inputs
from ..preprocess.limits import MAX_CLIPS
from .backends import Backend, open_backend
from .output import failure, fusion_name, success


@dataclass
class Prepared:
    """One item's model inputs (all its clips) and the time its stages took."""

    name: str
    imgs: np.ndarray  # [clips, 3, T, H, W]
    heatmaps: np.ndarray  # [clips, 17, T', h, w]
    timing_ms: dict[str, float] = field(default_factory=dict)


class Predictor:
    """``predict(video, skeleton)`` -> the prediction output object, on any backend."""

    def __init__(
        self,
        backend: Backend,
        batch_size: int = 8,
        fusion_weights: tuple[float, float] | None = None,
        max_frames: int | None = None,
        max_persons: int | None = None,
    ) -> None:
        self.backend = backend
        self.meta = backend.meta
        self.config = backend.meta.config
        self.batch_size = batch_size
        self.fusion_weights = tuple(fusion_weights or backend.meta.fusion_weights)
        if len(self.fusion_weights) != 2 or min(self.fusion_weights) < 0 or sum(self.fusion_weights) <= 0:
            raise ValueError(f"fusion weights must be two non-negative numbers, not {self.fusion_weights}")
        self.limits = {k: v for k, v in (("max_frames", max_frames), ("max_persons", max_persons)) if v}

    @classmethod
    def from_path(
        cls, path: str | Path | None, preset: str | None = None, device: str = "auto", **kwargs: Any
    ) -> "Predictor":
        """A checkpoint (.pth), an ONNX model (.onnx), a TensorRT engine (.engine), or None (untrained)."""
        return cls(open_backend(path, preset=preset, device=device), **kwargs)

    @property
    def model_info(self) -> dict[str, Any]:
        return {
            "name": f"pcan-{self.config.name}",
            "backend": self.backend.name,
            "weights": self.meta.weights,
            "fused_head": self.meta.fused_head,
        }

    def check_request(self, top_k: int | None = None, fusion: str | None = None, num_clips: int | None = None) -> None:
        """Validate the request parameters given (None: not part of this request) before any decoding."""
        n = len(self.config.class_names)
        if top_k is not None and not 1 <= top_k <= n:
            raise InvalidRequest(f"top_k must be between 1 and {n}, got {top_k}")
        if fusion is not None and fusion not in ("late", "fused"):
            raise InvalidRequest(f"fusion must be 'late' or 'fused', got {fusion!r}")
        if fusion == "fused" and not self.meta.fused_head:
            raise InvalidRequest("fusion 'fused' needs a trained fused head; this model has none (use 'late')")
        if num_clips is not None and not 1 <= num_clips <= MAX_CLIPS:
            raise InvalidRequest(f"num_clips must be between 1 and {MAX_CLIPS}, got {num_clips}")

    def default_top_k(self, wanted: int = 5) -> int:
        return min(wanted, len(self.config.class_names))

    def prepare(self, video: Any, skeleton: Any, num_clips: int = 1, name: str | None = None) -> Prepared:
        self.check_request(num_clips=num_clips)
        timings: dict[str, float] = {}
        inputs = make_inputs(
            video, skeleton, num_clips=num_clips, config=self.config.preprocess, timings=timings, **self.limits
        )
        label = name if name is not None else (str(video) if isinstance(video, (str, Path)) else "upload")
        return Prepared(label, inputs["imgs"], inputs["heatmaps"], timings)

    def infer(self, items: list[Prepared]) -> list[dict[str, np.ndarray]]:
        """One pass over every clip of every item, in chunks of ``batch_size``; clip scores are averaged."""
        if not items:
            return []
        imgs = items[0].imgs if len(items) == 1 else np.concatenate([p.imgs for p in items])
        heatmaps = items[0].heatmaps if len(items) == 1 else np.concatenate([p.heatmaps for p in items])
        start = time.perf_counter()
        chunks = [
            self.backend.run(imgs[i : i + self.batch_size], heatmaps[i : i + self.batch_size])
            for i in range(0, len(imgs), self.batch_size)
        ]
        elapsed = (time.perf_counter() - start) * 1000
        probs = {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}
        results, offset = [], 0
        for p in items:
            n = len(p.imgs)
            results.append({k: v[offset : offset + n].mean(axis=0) for k, v in probs.items()})
            p.timing_ms["inference"] = elapsed * n / len(imgs)  # the batch's time, shared by clip count
            offset += n
        return results

    def fuse(self, probs: dict[str, np.ndarray], fusion: str = "late") -> tuple[dict[str, np.ndarray], str, str]:
        """Adds the late fusion (w_rgb*p_rgb + w_pose*p_pose)/(w_rgb + w_pose); returns the served key."""
        w_rgb, w_pose = self.fusion_weights
        out = dict(probs)
        out["late"] = (w_rgb * probs["rgb"] + w_pose * probs["pose"]) / (w_rgb + w_pose)
        return out, ("fused" if fusion == "fused" else "late"), fusion_name(fusion, self.fusion_weights)

    def format(
        self, item: Prepared, probs: dict[str, np.ndarray], top_k: int = 5, fusion: str = "late"
    ) -> dict[str, Any]:
        self.check_request(top_k=top_k, fusion=fusion)
        fused, key, label = self.fuse(probs, fusion)
        timing = {k: item.timing_ms.get(k, 0.0) for k in ("decode", "preprocess", "inference")}
        timing["total"] = sum(timing.values())
        return success(item.name, fused, key, label, self.config.class_names, top_k, self.model_info, timing)

    def predict(
        self,
        video: Any,
        skeleton: Any,
        top_k: int = 5,
        num_clips: int = 1,
        fusion: str = "late",
        name: str | None = None,
    ) -> dict[str, Any]:
        """Classify one video; a bad input raises a typed :class:`~pcan_serve.errors.PCANError`."""
        self.check_request(top_k=top_k, fusion=fusion, num_clips=num_clips)
        item = self.prepare(video, skeleton, num_clips=num_clips, name=name)
        return self.format(item, self.infer([item])[0], top_k=top_k, fusion=fusion)

    def predict_safe(self, video: Any, skeleton: Any, **kwargs: Any) -> dict[str, Any]:
        """Like :meth:`predict`, but a failure becomes an error row instead of an exception."""
        try:
            return self.predict(video, skeleton, **kwargs)
        except Exception as exc:  # one bad item must not stop a batch
            return failure(kwargs.get("name") or str(video), exc)
