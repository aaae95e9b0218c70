"""PCAN models in the BentoML model store: import a checkpoint / ONNX model / TensorRT engine, find one.

A stored model is the file itself (``model.pth`` | ``model.onnx`` | ``model.engine`` + its ``.json``
sidecar) plus labels and metadata that describe it (preset, backend, weights, fused head, the pcan model
metadata JSON), so listing the store or a Bento tells what each model is without loading it.
"""

import hashlib
import shutil
from pathlib import Path
from typing import Any

import bentoml
from bentoml.exceptions import NotFound

from ..errors import CheckpointError
from ..model_io import ModelSource, tensorrt_sidecar
from ..runtime import Predictor

MODEL_NAME = "pcan"


def _sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def import_model(source: ModelSource, name: str = MODEL_NAME) -> bentoml.Model:
    """Copy the model file into the store as ``name:<new version>``, once it has opened and run as serving will
    open and run it (so a file `pcan serve` would refuse is refused here); returns the stored model."""
    path = source.path
    if path is None:
        raise CheckpointError("only a model file can be imported into the model store")
    meta = Predictor.open_checked(source).meta
    backend = source.backend
    artifact = "model" + (path.suffix.lower() or ".pth")
    labels = {
        "preset": meta.config.name,
        "precision": meta.quantization or "fp32",
        "backend": backend,
        "weights": meta.weights,
        "fused_head": str(meta.fused_head).lower(),
    }
    metadata: dict[str, Any] = {"file": artifact, "source": path.name, "sha256": _sha256(path), "pcan": meta.to_json()}
    with bentoml.models.create(name, labels=labels, metadata=metadata) as stored:
        shutil.copyfile(path, stored.path_of(artifact))
        companions = [(tensorrt_sidecar(path), artifact + ".json")] if backend == "tensorrt" else []
        companions += [(path.parent / f, f) for f in onnx_external_files(path)] if backend == "onnxruntime" else []
        for src, dst in companions:
            Path(stored.path_of(dst)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, stored.path_of(dst))
    return stored


def onnx_external_files(path: Path) -> list[str]:
    """The files an ONNX model keeps its large tensors in, relative to its folder (ONNX Runtime has already
    refused a location outside the folder when the model was opened)."""
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    files = {
        entry.value
        for tensor in proto.graph.initializer
        if onnx.external_data_helper.uses_external_data(tensor)
        for entry in tensor.external_data
        if entry.key == "location"
    }
    return sorted(files)


def find_model(tag: str | None = None, backend: str | None = None) -> bentoml.Model | None:
    """``tag`` exactly (an error when missing), else the newest ``pcan`` model (of ``backend``), else None."""
    if tag:
        try:
            stored = bentoml.models.get(tag)
        except NotFound:
            raise CheckpointError(
                f"model {tag!r} is not in the model store; `pcan models list` shows what is"
            ) from None
        if backend and stored.info.labels.get("backend") != backend:
            raise CheckpointError(
                f"model {tag} is a {stored.info.labels.get('backend')} model, but PCAN_BACKEND={backend}"
            )
        return stored
    try:
        candidates = bentoml.models.list(MODEL_NAME)
    except NotFound:
        return None
    candidates = [m for m in candidates if not backend or m.info.labels.get("backend") == backend]
    return max(candidates, key=lambda m: m.info.creation_time, default=None)


def artifact_path(stored: bentoml.Model) -> Path:
    """The model file inside a stored model (its suffix selects the runtime)."""
    name = stored.info.metadata.get("file")
    if not name:
        raise CheckpointError(f"model {stored.tag} was not imported by `pcan models import` (no 'file' metadata)")
    return Path(stored.path_of(name))
