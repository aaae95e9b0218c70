"""Runtimes (torch, onnxruntime, tensorrt) behind one interface, the request :class:`Frontend`, the
:class:`Predictor` that joins them, and the contracts at this seam (options in, prediction out)."""

from .backends import Backend, OnnxRuntimeBackend, TensorRTBackend, TorchBackend, open_backend, resolve_device
from .frontend import Frontend, Prepared
from .prediction import ClassScore, Failure, Prediction, Row, ServedModel, Timing
from .predictor import Predictor
from .request import PredictOptions

__all__ = [
    "Backend",
    "ClassScore",
    "Failure",
    "Frontend",
    "OnnxRuntimeBackend",
    "PredictOptions",
    "Prediction",
    "Predictor",
    "Prepared",
    "Row",
    "ServedModel",
    "TensorRTBackend",
    "Timing",
    "TorchBackend",
    "open_backend",
    "resolve_device",
]
