"""PCAN -> ONNX: both inputs, per-branch probabilities, dynamic batch, the model's metadata inside.

Exporter: torch's TorchScript-based exporter (``dynamo=False``). It needs nothing beyond torch and onnx
(the dynamo exporter, torch's default since 2.9, needs onnxscript, which the project does not install),
it traces this model (convolutions, pooling, a small attention) into plain ONNX ops, and it folds
BatchNorm into the convolutions in eval mode. Whatever exporter, the file is only kept once ONNX Runtime
reproduces PyTorch on it (``export_verified_onnx``).
"""

import contextlib
import os
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import onnx
import torch
from rich.console import Console

from pcan_serve.model import PCAN
from pcan_serve.model_io import METADATA_KEY, ModelMeta, load_model, read_onnx_meta
from pcan_serve.preprocess.sources import ntu_sample

from .agreement import AgreementReport
from .verify import (
    FP32_TOLERANCE,
    VerificationReport,
    ort_runner,
    random_case,
    run_verification,
    standard_cases,
    torch_runner,
)
from .wrapper import BRANCHES, ProbabilityModel

ONNX_INPUTS = ("imgs", "heatmaps")
ONNX_OUTPUTS = BRANCHES
DEFAULT_OPSET = 17
MIN_OPSET = 17
TRACE_BATCH = 2  # neither 1 nor a verified size, so a batch size baked in by mistake is caught
VERIFY_BATCHES = (1, 4)


def max_opset() -> int:
    from torch.onnx import _constants

    return int(getattr(_constants, "ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET", 20))


def attach_meta(path: str | Path, meta: ModelMeta, precision_note: str = "") -> None:
    """Write ``meta`` into the file's metadata_props (what serving reads) and a one-line description."""
    proto = onnx.load(str(path))
    del proto.metadata_props[:]
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, meta.to_json()
    proto.producer_name = "pcan"
    scaled = "temperature-scaled " if meta.calibrated else ""
    note = f"; {precision_note}" if precision_note else ""
    proto.doc_string = (
        f"PCAN {meta.config.name}: inputs imgs/heatmaps, outputs {scaled}softmax probabilities "
        f"{', '.join(ONNX_OUTPUTS)} (fused head trained: {meta.fused_head}){note}"
    )
    onnx.save(proto, str(path))


def export_onnx(model: PCAN, meta: ModelMeta, output: str | Path, opset: int = DEFAULT_OPSET) -> Path:
    """Trace ``model`` (CPU, fp32) to ``output``, attach ``meta``, and run the ONNX checker on the file."""
    if not MIN_OPSET <= opset <= max_opset():
        raise ValueError(f"opset must be between {MIN_OPSET} and {max_opset()}, got {opset}")
    output = Path(output)
    wrapped = ProbabilityModel(model.cpu().float(), meta.temperatures).eval()
    example = random_case(meta.config, TRACE_BATCH)
    axes = {name: {0: "batch"} for name in (*ONNX_INPUTS, *ONNX_OUTPUTS)}
    with warnings.catch_warnings(), torch.no_grad():
        # the TorchScript exporter's deprecation notice and tracer notes about Python scalars (head width)
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapped,
            (torch.from_numpy(example.imgs), torch.from_numpy(example.heatmaps)),
            str(output),
            dynamo=False,
            input_names=list(ONNX_INPUTS),
            output_names=list(ONNX_OUTPUTS),
            dynamic_axes=axes,
            opset_version=opset,
            do_constant_folding=True,
        )
    attach_meta(output, meta)
    onnx.checker.check_model(str(output), full_check=True)
    if read_onnx_meta(output) != meta:
        raise RuntimeError(f"metadata read back from {output.name} differs from the metadata written")
    return output


@dataclass
class ExportResult:
    path: Path
    meta: ModelMeta
    size_bytes: int
    export_seconds: float
    verify_seconds: float
    report: VerificationReport | AgreementReport | None  # AgreementReport: int8 (export/int8.py)


Sample = tuple[Path, Path] | None | Literal["auto"]


def export_verified_onnx(
    checkpoint: str | Path | None,
    output: str | Path,
    preset: str | None = None,
    opset: int = DEFAULT_OPSET,
    verify: bool = True,
    sample: Sample = "auto",
    tolerance: float = FP32_TOLERANCE,
    fusion_weights: tuple[float, float] | None = None,
    console: Console | None = None,
    verify_batches: tuple[int, ...] = VERIFY_BATCHES,
) -> ExportResult:
    """Export ``checkpoint`` (None: untrained ``preset``) and keep the file only if ORT matches PyTorch.

    ``fusion_weights`` overrides the model's own (learned by calibration, else 1:1); its temperatures are
    built into the graph. The graph is written to ``<output>.partial`` and renamed onto ``output`` after
    verification, so a failed export never leaves (or overwrites) a file that serving would pick up.
    """
    console = console or Console(stderr=True)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    model, info = load_model(checkpoint, preset=preset, device="cpu")
    meta = info.description
    if fusion_weights is not None:
        meta = replace(meta, fusion_weights=tuple(float(w) for w in fusion_weights))
    report = None
    with staged(output) as partial:
        start = time.perf_counter()
        export_onnx(model, meta, partial, opset)
        export_s = time.perf_counter() - start
        start = time.perf_counter()
        if verify:
            report = verify_against_torch(model, partial, meta, tolerance, verify_batches, sample, "ONNX Runtime (CPU)")
            report.print(console)
            report.raise_for_failure()
        verify_s = time.perf_counter() - start
    return ExportResult(output, meta, output.stat().st_size, export_s, verify_s, report)


def verify_against_torch(
    model: PCAN,
    path: Path,
    meta: ModelMeta,
    tolerance: float,
    batches: tuple[int, ...] = VERIFY_BATCHES,
    sample: Sample = "auto",
    candidate: str = "ONNX Runtime (CPU)",
    cuda: bool = False,
) -> VerificationReport:
    """ONNX Runtime on ``path`` (CPU provider, or CUDA's with ``cuda``) against PyTorch fp64 (temperatures
    applied) on random clips and the sample."""
    notes: list[str] = []
    cases = standard_cases(meta.config, batches, ntu_sample() if sample == "auto" else sample, notes)
    reference = torch_runner(model, temperatures=meta.temperatures)
    candidate_run = ort_runner(path, cuda=cuda)
    report = run_verification(reference, candidate_run, cases, tolerance, "PyTorch (CPU, fp64)", candidate)
    report.notes += notes
    return report


@contextlib.contextmanager
def staged(output: Path) -> Iterator[Path]:
    """The path to write ``output`` to: renamed onto it when the block succeeds, deleted when it raises, so a
    failed export never leaves (or overwrites) a file that serving would pick up."""
    partial = output.with_name(output.name + ".partial")
    try:
        yield partial
        os.replace(partial, output)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
