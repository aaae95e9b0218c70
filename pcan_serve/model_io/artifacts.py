"""Model files by kind: which runtime a file needs, and reading its :class:`ModelMeta` back from any of them."""

from pathlib import Path

from ..errors import CheckpointError
from .meta import METADATA_KEY, ModelMeta

BACKENDS = ("torch", "onnxruntime", "tensorrt")
TENSORRT_SUFFIXES = (".engine", ".plan", ".trt")


def backend_of(path: str | Path) -> str:
    """The runtime a model file needs, by its suffix: ``.onnx`` -> onnxruntime, ``.engine`` -> tensorrt, else torch."""
    suffix = Path(path).suffix.lower()
    if suffix == ".onnx":
        return "onnxruntime"
    if suffix in TENSORRT_SUFFIXES:
        return "tensorrt"
    return "torch"


def tensorrt_sidecar(engine: str | Path) -> Path:
    """An engine has no metadata field: its description lives in ``<engine>.json`` beside it."""
    return Path(str(engine) + ".json")


def read_tensorrt_meta(engine: str | Path) -> ModelMeta:
    """The description in an engine's sidecar; a missing sidecar is a CheckpointError that names it."""
    sidecar = tensorrt_sidecar(engine)
    if not sidecar.is_file():
        raise CheckpointError(f"{sidecar.name} (the engine's pcan metadata) is missing beside the engine")
    return ModelMeta.from_json(sidecar.read_text(), sidecar.name)


def meta_from_onnx_props(props: dict[str, str], source: str) -> ModelMeta:
    """The description in an ONNX file's ``metadata_props`` (as onnx or ONNX Runtime list them)."""
    if METADATA_KEY not in props:
        raise CheckpointError(f"{source} has no pcan metadata; export it with `pcan export onnx`")
    return ModelMeta.from_json(props[METADATA_KEY], source)


def read_onnx_meta(path: str | Path) -> ModelMeta:
    """The description inside an ONNX file, whatever its name (export reads its ``.partial`` file)."""
    import onnx

    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError and others for a file that is not ONNX
        raise CheckpointError(f"cannot read ONNX model {Path(path).name}: {exc}") from None
    return meta_from_onnx_props({p.key: p.value for p in proto.metadata_props}, Path(path).name)


def read_meta(path: str | Path, preset: str | None = None) -> ModelMeta:
    """The description of any model file, read the way serving reads it (so a broken file fails here)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"model file not found: {path}")
    backend = backend_of(path)
    if backend == "tensorrt":
        return read_tensorrt_meta(path)
    if backend == "onnxruntime":
        return read_onnx_meta(path)
    from .checkpoint import load_model

    return load_model(path, preset=preset)[1].description
