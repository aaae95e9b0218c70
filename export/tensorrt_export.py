"""ONNX -> TensorRT engine (TensorRT 10 Python API), with the model's metadata in a sidecar json.

TensorRT is published on NVIDIA's package index, not PyPI, and needs an NVIDIA GPU; where either is
missing :func:`require_tensorrt` raises :class:`~pcan_serve.errors.BackendUnavailable` with what to do.
The engine is written to ``<output>.partial`` and only renamed onto ``output`` (sidecar beside it)
after it reproduces ONNX Runtime on the same inputs.
"""

import os
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Literal

import torch
from rich.console import Console

from pcan_serve.errors import BackendUnavailable
from pcan_serve.model_io import ModelMeta, read_meta, tensorrt_sidecar
from pcan_serve.preprocess.sources import ntu_sample
from pcan_serve.runtime.backends import TensorRTBackend

from .onnx_export import ONNX_INPUTS
from .verify import (
    FP16_TOLERANCE,
    FP32_TOLERANCE,
    VerificationReport,
    at_least,
    ort_runner,
    run_verification,
    standard_cases,
)

TENSORRT_INSTALL = "pip install --extra-index-url https://pypi.nvidia.com tensorrt"
DEFAULT_WORKSPACE_GIB = 4.0


class EngineBuildError(RuntimeError):
    """TensorRT could not parse the ONNX file or build an engine from it."""


def require_tensorrt() -> ModuleType:
    """``import tensorrt`` and check for a CUDA GPU, or raise ``BackendUnavailable`` saying what is missing."""
    try:
        import tensorrt as trt
    except ImportError:
        raise BackendUnavailable(
            "TensorRT is not installed. It is published on NVIDIA's package index, not PyPI: "
            f"`{TENSORRT_INSTALL}` (needs an NVIDIA GPU with a matching driver). The ONNX model runs "
            "without it: `pcan predict --onnx MODEL.onnx`."
        ) from None
    if not torch.cuda.is_available():
        raise BackendUnavailable(
            f"TensorRT {getattr(trt, '__version__', '')} is installed, but no CUDA GPU is visible to torch "
            "here: building and running an engine needs an NVIDIA GPU."
        )
    return trt


def _check_batches(min_batch: int, opt_batch: int, max_batch: int) -> None:
    if not 1 <= min_batch <= opt_batch <= max_batch:
        raise ValueError(f"need 1 <= min-batch <= opt-batch <= max-batch, got {min_batch}/{opt_batch}/{max_batch}")


def _network_flags(trt: ModuleType) -> int:
    """TensorRT 10 networks are always explicit-batch; older versions must ask for it."""
    major = int(str(trt.__version__).split(".")[0])
    flag = getattr(trt.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH", None)
    return 1 << int(flag) if major < 10 and flag is not None else 0


def build_engine(
    onnx_path: str | Path,
    output: str | Path,
    fp16: bool = False,
    min_batch: int = 1,
    opt_batch: int = 4,
    max_batch: int = 8,
    workspace_gib: float = DEFAULT_WORKSPACE_GIB,
) -> Path:
    """Parse ``onnx_path``, build a serialized engine for batch sizes [min, max] (tuned for opt), write it.

    fp32 builds switch TF32 off so they can be held to the fp32 tolerance; ``fp16`` lets TensorRT pick
    fp16 kernels wherever they are faster (inputs and outputs stay float32).
    """
    _check_batches(min_batch, opt_batch, max_batch)
    trt = require_tensorrt()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(_network_flags(trt))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise EngineBuildError(f"TensorRT's ONNX parser rejected {Path(onnx_path).name}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gib * (1 << 30)))
    if fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    elif hasattr(trt.BuilderFlag, "TF32"):
        config.clear_flag(trt.BuilderFlag.TF32)
    profile = builder.create_optimization_profile()
    names = []
    for i in range(network.num_inputs):
        tensor = network.get_input(i)
        rest = tuple(int(d) for d in tensor.shape)[1:]
        if any(d < 0 for d in rest):
            raise EngineBuildError(f"input {tensor.name} has a dynamic non-batch dimension: {tuple(tensor.shape)}")
        profile.set_shape(tensor.name, (min_batch, *rest), (opt_batch, *rest), (max_batch, *rest))
        names.append(tensor.name)
    if sorted(names) != sorted(ONNX_INPUTS):
        raise EngineBuildError(f"expected inputs {ONNX_INPUTS}, the ONNX file has {tuple(names)}")
    config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise EngineBuildError("TensorRT failed to build the engine (see its log above)")
    output = Path(output)
    output.write_bytes(bytes(serialized))
    return output


@dataclass
class EngineResult:
    path: Path
    sidecar: Path
    meta: ModelMeta
    size_bytes: int
    build_seconds: float
    report: VerificationReport | None


Sample = tuple[Path, Path] | None | Literal["auto"]


def export_verified_engine(
    onnx_path: str | Path,
    output: str | Path,
    fp16: bool = False,
    min_batch: int = 1,
    opt_batch: int = 4,
    max_batch: int = 8,
    verify: bool = True,
    sample: Sample = "auto",
    tolerance: float | None = None,
    workspace_gib: float = DEFAULT_WORKSPACE_GIB,
    console: Console | None = None,
) -> EngineResult:
    """Build the engine, verify it against ONNX Runtime (CPU) at min/opt/max batch and on the sample."""
    console = console or Console(stderr=True)
    _check_batches(min_batch, opt_batch, max_batch)
    require_tensorrt()
    onnx_path, output = Path(onnx_path), Path(output)
    meta = read_meta(onnx_path)
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".partial")
    sidecars = (tensorrt_sidecar(partial), tensorrt_sidecar(output))
    report = None
    try:
        start = time.perf_counter()
        build_engine(onnx_path, partial, fp16, min_batch, opt_batch, max_batch, workspace_gib)
        build_s = time.perf_counter() - start
        sidecars[0].write_text(meta.to_json())
        if verify:
            notes: list[str] = []
            cases = [
                at_least(c, min_batch)
                for c in standard_cases(
                    meta.config,
                    (min_batch, opt_batch, max_batch),
                    ntu_sample() if sample == "auto" else sample,
                    notes,
                )
            ]
            tol = tolerance if tolerance is not None else (FP16_TOLERANCE if fp16 else FP32_TOLERANCE)
            engine = TensorRTBackend(partial)
            report = run_verification(
                ort_runner(onnx_path),
                engine.run,
                cases,
                tol,
                "ONNX Runtime (CPU)",
                f"TensorRT ({'fp16' if fp16 else 'fp32'})",
            )
            report.notes += notes
            report.print(console)
            report.raise_for_failure()
        os.replace(sidecars[0], sidecars[1])
        os.replace(partial, output)
    except BaseException:
        partial.unlink(missing_ok=True)
        sidecars[0].unlink(missing_ok=True)
        raise
    return EngineResult(output, sidecars[1], meta, output.stat().st_size, build_s, report)
