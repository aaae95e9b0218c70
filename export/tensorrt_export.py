"""ONNX -> TensorRT engine (TensorRT 10 Python API), with the model's metadata in a sidecar json.

TensorRT is published on NVIDIA's package index, not PyPI, and needs an NVIDIA GPU; where either is
missing :func:`require_tensorrt` raises :class:`~pcan_serve.errors.BackendUnavailable` with what to do.
The engine is written to ``<output>.partial`` and only renamed onto ``output`` (sidecar beside it)
after it reproduces ONNX Runtime on the same inputs.
"""

import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import torch
from rich.console import Console

from pcan_serve.errors import BackendUnavailable, PCANError
from pcan_serve.model_io import ModelMeta, read_meta, tensorrt_sidecar
from pcan_serve.runtime.backends import TensorRTBackend

from .graph import ONNX_INPUTS
from .onnx_export import staged
from .options import EngineExportOptions
from .verify import VerificationReport, at_least, ort_runner, run_verification, standard_cases

TENSORRT_INSTALL = "pip install --extra-index-url https://pypi.nvidia.com tensorrt"


class EngineBuildError(PCANError):
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


def _network_flags(trt: ModuleType) -> int:
    """TensorRT 10 networks are always explicit-batch; older versions must ask for it."""
    major = int(str(trt.__version__).split(".")[0])
    flag = getattr(trt.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH", None)
    return 1 << int(flag) if major < 10 and flag is not None else 0


def build_engine(options: EngineExportOptions, output: Path) -> Path:
    """Parse ``options.onnx``, build a serialized engine for batch sizes [min, max] (tuned for opt), write it.

    fp32 builds switch TF32 off so they can be held to the fp32 tolerance; ``fp16`` lets TensorRT pick
    fp16 kernels wherever they are faster (inputs and outputs stay float32).
    """
    trt = require_tensorrt()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(_network_flags(trt))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(options.onnx)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise EngineBuildError(f"TensorRT's ONNX parser rejected {options.onnx.name}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(options.workspace_gib * (1 << 30)))
    if options.fp16:
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
        profile.set_shape(tensor.name, *((b, *rest) for b in options.batches))
        names.append(tensor.name)
    if sorted(names) != sorted(ONNX_INPUTS):
        raise EngineBuildError(f"expected inputs {ONNX_INPUTS}, the ONNX file has {tuple(names)}")
    config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise EngineBuildError("TensorRT failed to build the engine (see its log above)")
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


def export_verified_engine(options: EngineExportOptions, console: Console | None = None) -> EngineResult:
    """Build the engine, verify it against ONNX Runtime (CPU) at min/opt/max batch and on the sample."""
    console = console or Console(stderr=True)
    require_tensorrt()
    meta = read_meta(options.onnx)
    output, report = options.output, None
    partial = output.with_name(output.name + ".partial")
    with staged(output, partial), staged(tensorrt_sidecar(output), tensorrt_sidecar(partial)) as sidecar:
        start = time.perf_counter()
        build_engine(options, partial)
        build_s = time.perf_counter() - start
        sidecar.write_text(meta.to_json())
        if options.verify:
            notes: list[str] = []
            cases = standard_cases(meta.config, options.batches, options.sample_files(), notes)
            cases = [at_least(c, options.min_batch) for c in cases]
            names = "ONNX Runtime (CPU)", f"TensorRT ({'fp16' if options.fp16 else 'fp32'})"
            engine = TensorRTBackend(partial)
            report = run_verification(ort_runner(options.onnx), engine.run, cases, options.max_abs_diff, *names)
            report.notes += notes
            report.print(console)
            report.raise_for_failure()
    return EngineResult(output, tensorrt_sidecar(output), meta, output.stat().st_size, build_s, report)
