"""What runs on the Ray workers of ``pcan predict --executor ray``: decode tasks and the model replicas.

Both stages turn every per-item failure into that item's error row, so Ray only ever retries a task or
replica that died (a lost worker or node), never an input that is bad for its own reasons.
"""

import pickle
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from ..model_io import ModelMeta, backend_of, tensorrt_sidecar
from ..preprocess.items import Item
from ..runtime import Failure, Frontend, PredictOptions, Predictor, Prepared
from .local_executor import prepare_item  # the local executor's own checks, so both executors fail items alike


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


def decode(row: dict[str, Any], meta_json: str, backend_name: str, options_json: str) -> dict[str, Any]:
    """One item's model inputs (a Prepared) or its error row, pickled: Arrow blocks hold bytes of any shape.

    The pickle only travels between this job's own processes (as all of Ray's task data does).
    """
    item = Item(row["video"], row["skeleton"])
    try:
        options = PredictOptions.model_validate_json(options_json)
        out: Prepared | Failure = prepare_item(_frontend(meta_json, backend_name), item, options)
    except Exception as exc:  # a bad item becomes its error row, once
        out = Failure.of(item.video, exc)
    return {"index": row["index"], "payload": pickle.dumps(out, protocol=5)}


class Replica:
    """A model replica of the actor pool: batched inference, then the prediction objects as JSON text."""

    def __init__(
        self, model: ShippedModel, preset: str | None, device: str, batch_size: int, options_json: str
    ) -> None:
        self.predictor = model.open(preset, device, batch_size)
        self.options = PredictOptions.model_validate_json(options_json)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        slots: list[Prepared | Failure] = [pickle.loads(p) for p in batch["payload"]]
        answers = iter(self.predictor.answer([s for s in slots if isinstance(s, Prepared)], self.options))
        rows = [next(answers) if isinstance(s, Prepared) else s for s in slots]
        return {"index": batch["index"], "row": np.array([r.model_dump_json() for r in rows], dtype=object)}
