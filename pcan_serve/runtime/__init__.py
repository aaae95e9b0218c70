"""Runtimes (torch, onnxruntime, tensorrt) behind one Predictor."""

from .backends import Backend, OnnxRuntimeBackend, TensorRTBackend, TorchBackend, open_backend, resolve_device
from .metadata import METADATA_KEY, ModelMeta
from .predictor import Predictor, Prepared

__all__ = [
    "METADATA_KEY",
    "Backend",
    "ModelMeta",
    "OnnxRuntimeBackend",
    "Predictor",
    "Prepared",
    "TensorRTBackend",
    "TorchBackend",
    "open_backend",
    "resolve_device",
]
