"""One inference engine for the CLI, the HTTP model process and the benchmarks: a :class:`Frontend` plus a
backend that turns arrays into probabilities.

The stages are separate so callers can overlap them: ``prepare`` (decode + preprocess, per item, CPU,
releases the GIL in the decoder/OpenCV) and ``infer`` (batched forwards over many items' clips).
``predict`` chains them for a single item.
"""

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..model_io import ModelSource
from ..preprocess import Limits
from .backends import Backend, open_backend
from .frontend import Frontend, Prepared
from .prediction import Failure, Prediction, Row
from .request import PredictOptions


class Predictor(Frontend):
    """``predict(video, skeleton)`` -> the prediction output object, on any backend."""

    def __init__(
        self,
        backend: Backend,
        batch_size: int = 8,
        limits: Limits | None = None,
        fusion_weights: tuple[float, float] | None = None,
        decode_device: str = "cpu",
        pose_model: str | Path | None = None,
    ) -> None:
        super().__init__(backend.meta, backend.name, limits, fusion_weights, decode_device, pose_model)
        self.backend = backend
        self.batch_size = batch_size

    @classmethod
    def from_path(
        cls, path: str | Path | None, preset: str | None = None, device: str = "auto", **kwargs: Any
    ) -> "Predictor":
        """A checkpoint (.pth), an ONNX model (.onnx), a TensorRT engine (.engine), or None (untrained)."""
        return cls(open_backend(path, preset=preset, device=device), **kwargs)

    @classmethod
    def open_checked(cls, source: ModelSource, device: str = "cpu", batch_size: int = 1) -> "Predictor":
        """The model opened and run once on zeros (batch 1): how `pcan serve` and `pcan models import` check a
        model before they rely on it, and the warm-up that keeps a server's first request from being slow."""
        predictor = cls.from_path(source.path, preset=source.preset, device=device, batch_size=batch_size)
        predictor.infer([predictor.zeros("warm-up")])
        return predictor

    def zeros(self, name: str) -> Prepared:
        """One clip of zeros in the model's input shapes: the model check, the warm-up and the rate probe."""
        imgs, heatmaps = (np.zeros(shape, np.float32) for shape in self.config.input_shapes(1))
        return Prepared(name, imgs, heatmaps)

    def infer(self, items: list[Prepared]) -> list[dict[str, np.ndarray]]:
        """Every clip of every item, in forwards of ``batch_size`` clips; each item's clip scores are averaged.

        Only one chunk of clips is assembled at a time, so memory beyond the items' own inputs is one batch.
        """
        if not items:
            return []
        start = time.perf_counter()
        chunks = [self.backend.run(imgs, heatmaps) for imgs, heatmaps in _chunks(items, self.batch_size)]
        elapsed = (time.perf_counter() - start) * 1000
        probs = {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}
        total = sum(len(p.imgs) for p in items)
        results, offset = [], 0
        for p in items:
            n = len(p.imgs)
            results.append({k: v[offset : offset + n].mean(axis=0) for k, v in probs.items()})
            p.timing_ms["inference"] = elapsed * n / total  # the batch's time, shared by clip count
            offset += n
        return results

    def infer_isolated(self, items: list[Prepared]) -> list[dict[str, np.ndarray] | Exception]:
        """:meth:`infer` on the whole batch; if that fails, item by item, so only an item that breaks it fails
        (its exception in its slot) and its batch neighbours still get their results."""
        try:
            return list(self.infer(items))
        except Exception as exc:
            if len(items) == 1:
                return [exc]
            return [self.infer_isolated([item])[0] for item in items]

    def answer(self, items: list[Prepared], options: PredictOptions) -> list[Row]:
        """Each prepared item's prediction, or its :class:`Failure` when it alone broke inference or formatting."""
        rows: list[Row] = []
        for item, probs in zip(items, self.infer_isolated(items), strict=True):
            try:
                if isinstance(probs, Exception):
                    raise probs
                rows.append(self.format(item, probs, top_k=options.top_k, fusion=options.fusion))
            except Exception as exc:
                rows.append(Failure.of(item.name, exc))
        return rows

    def predict(
        self,
        video: Any,
        skeleton: Any,
        top_k: int | None = None,
        num_clips: int = 1,
        fusion: str = "late",
        name: str | None = None,
    ) -> Prediction:
        """Classify one video (``top_k`` default: 5, or the class count when smaller); a bad input raises a
        typed :class:`~pcan_serve.errors.PCANError`."""
        self.check_request(top_k=top_k, fusion=fusion)
        item = self.prepare(video, skeleton, num_clips=num_clips, name=name)
        return self.format(item, self.infer([item])[0], top_k=top_k, fusion=fusion)


def _chunks(items: list[Prepared], size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(imgs, heatmaps) of at most ``size`` clips, in item order; one item's clips may span two chunks."""
    pending: list[tuple[np.ndarray, np.ndarray]] = []
    count = 0
    for item in items:
        start = 0
        while start < len(item.imgs):
            take = min(size - count, len(item.imgs) - start)
            pending.append((item.imgs[start : start + take], item.heatmaps[start : start + take]))
            start, count = start + take, count + take
            if count == size:
                yield _join(pending)
                pending, count = [], 0
    if pending:
        yield _join(pending)


def _join(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    if len(parts) == 1:
        return parts[0]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
