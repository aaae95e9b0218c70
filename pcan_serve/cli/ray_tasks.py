"""What runs on the Ray workers of ``pcan predict --executor ray``: decode tasks and the model replicas.

Both stages turn every per-item failure into that item's error row, so Ray only ever retries a task or
replica that died (a lost worker or node), never an input that is bad for its own reasons.
"""

import json
import pickle
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from ..model_io import ModelMeta, backend_of, tensorrt_sidecar
from ..preprocess.items import Item
from ..runtime import Frontend, Predictor, Prepared
from ..runtime.output import failure
from .predict import _prepare  # the local executor's own checks, so both executors fail items alike


@dataclass(frozen=True)
class ShippedModel:
    """A model file (and a TensorRT engine's sidecar) put in the object store once; each replica fetches it.

    ``files`` is an ObjectRef of ``{file name: bytes}``, None for the seeded untrained weights.
    """

    files: Any = None

    @classmethod
    def put(cls, path: Path | None) -> "ShippedModel":
        import ray

        if path is None:
            return cls()
        files = [path] + ([tensorrt_sidecar(path)] if backend_of(path) == "tensorrt" else [])
        return cls(ray.put({f.name: f.read_bytes() for f in files}))

    def open(self, preset: str | None, device: str, batch_size: int) -> Predictor:
        """The replica's Predictor; the file lives only while the backend reads it in."""
        import ray

        if self.files is None:
            return Predictor.from_path(None, preset=preset, device=device, batch_size=batch_size)
        files: dict[str, bytes] = ray.get(self.files)
        with tempfile.TemporaryDirectory(prefix="pcan-model-") as tmp:
            for name, data in files.items():
                (Path(tmp) / name).write_bytes(data)
            model = Path(tmp) / next(iter(files))
            return Predictor.from_path(model, preset=preset, device=device, batch_size=batch_size)


@cache
def _frontend(meta_json: str, backend_name: str) -> Frontend:
    return Frontend(ModelMeta.from_json(meta_json, "driver"), backend_name)


def decode(row: dict[str, Any], meta_json: str, backend_name: str, num_clips: int) -> dict[str, Any]:
    """One item's model inputs (a Prepared) or its error row, pickled: Arrow blocks hold bytes of any shape.

    The pickle only travels between this job's own processes (as all of Ray's task data does).
    """
    item = Item(row["video"], row["skeleton"])
    try:
        out: Prepared | dict[str, Any] = _prepare(_frontend(meta_json, backend_name), item, num_clips)
    except Exception as exc:  # a bad item becomes its error row, once
        out = failure(item.video, exc)
    return {"index": row["index"], "payload": pickle.dumps(out, protocol=5)}


class Replica:
    """A model replica of the actor pool: batched inference, then the prediction objects as JSON text."""

    def __init__(
        self, model: ShippedModel, preset: str | None, device: str, batch_size: int, top_k: int, fusion: str
    ) -> None:
        self.predictor = model.open(preset, device, batch_size)
        self.top_k, self.fusion = top_k, fusion

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        slots: list[Prepared | dict[str, Any]] = [pickle.loads(p) for p in batch["payload"]]
        answers = iter(self.answer([s for s in slots if isinstance(s, Prepared)]))
        rows = [s if isinstance(s, dict) else next(answers) for s in slots]
        return {"index": batch["index"], "row": np.array([json.dumps(r) for r in rows], dtype=object)}

    def answer(self, items: list[Prepared]) -> list[dict[str, Any]]:
        """As the local executor does: an item that fails at inference fails alone."""
        rows = []
        for p, probs in zip(items, self.predictor.infer_isolated(items), strict=True):
            try:
                if isinstance(probs, Exception):
                    raise probs
                rows.append(self.predictor.format(p, probs, top_k=self.top_k, fusion=self.fusion))
            except Exception as exc:
                rows.append(failure(p.name, exc))
        return rows
