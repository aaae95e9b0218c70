"""Model files: safe checkpoint loading/saving and the one model description (:class:`ModelMeta`) every
artefact (checkpoint, ONNX, TensorRT sidecar) carries."""

from .artifacts import (
    BACKENDS,
    backend_of,
    meta_from_onnx_props,
    read_meta,
    read_onnx_meta,
    read_tensorrt_meta,
    tensorrt_sidecar,
)
from .checkpoint import ModelInfo, load_model, save_checkpoint, untrained_model
from .meta import METADATA_KEY, ModelMeta
from .safe_load import safe_torch_load
from .source import ModelSource

__all__ = [
    "BACKENDS",
    "METADATA_KEY",
    "ModelInfo",
    "ModelMeta",
    "ModelSource",
    "backend_of",
    "load_model",
    "meta_from_onnx_props",
    "read_meta",
    "read_onnx_meta",
    "read_tensorrt_meta",
    "safe_torch_load",
    "save_checkpoint",
    "tensorrt_sidecar",
    "untrained_model",
]
