"""ONNX and TensorRT export of PCAN, each verified numerically against the runtime it came from."""

from .onnx_export import (
    ONNX_INPUTS,
    ONNX_OUTPUTS,
    ExportResult,
    ProbabilityModel,
    export_onnx,
    export_verified_onnx,
)
from .synthetic import randomise_weights
from .tensorrt_export import (
    EngineBuildError,
    EngineResult,
    build_engine,
    export_verified_engine,
    require_tensorrt,
)
from .verify import Comparison, VerificationFailed, VerificationReport

__all__ = [
    "ONNX_INPUTS",
    "ONNX_OUTPUTS",
    "Comparison",
    "EngineBuildError",
    "EngineResult",
    "ExportResult",
    "ProbabilityModel",
    "VerificationFailed",
    "VerificationReport",
    "build_engine",
    "export_onnx",
    "export_verified_engine",
    "export_verified_onnx",
    "randomise_weights",
    "require_tensorrt",
]
