"""ONNX and TensorRT export of PCAN, each verified numerically against the runtime it came from."""

from .graph import ONNX_INPUTS, ONNX_OUTPUTS
from .onnx_export import ExportResult, export_verified_onnx
from .options import EngineExportOptions, InvalidExportOptions, OnnxExportOptions
from .synthetic import randomise_weights
from .tensorrt_export import EngineBuildError, EngineResult, export_verified_engine, require_tensorrt
from .verify import Comparison, VerificationFailed, VerificationReport
from .wrapper import ProbabilityModel

__all__ = [
    "ONNX_INPUTS",
    "ONNX_OUTPUTS",
    "Comparison",
    "EngineBuildError",
    "EngineExportOptions",
    "EngineResult",
    "ExportResult",
    "InvalidExportOptions",
    "OnnxExportOptions",
    "ProbabilityModel",
    "VerificationFailed",
    "VerificationReport",
    "export_verified_engine",
    "export_verified_onnx",
    "randomise_weights",
    "require_tensorrt",
]
