"""Runtimes (torch, onnxruntime, tensorrt) behind one interface, the request :class:`Frontend` and the
:class:`Predictor` that joins them."""

from .backends import Backend, OnnxRuntimeBackend, TensorRTBackend, TorchBackend, open_backend, resolve_device
from .frontend import Frontend, Prepared
from .predictor import Predictor

__all__ = [
    "Backend",
    "Frontend",
    "OnnxRuntimeBackend",
    "Predictor",
    "Prepared",
    "TensorRTBackend",
    "TorchBackend",
    "open_backend",
    "resolve_device",
]
