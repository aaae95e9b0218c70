"""``pcan export onnx``: a checkpoint traced to ONNX (``graph.py``), converted to fp16 or int8 where asked, and kept
only when ONNX Runtime on the file answers as its reference does.

The reference: PyTorch fp64 with the same temperatures (fp32 within 1e-4, fp16 within 1e-2); for int8 the fp32
graph, by top-1 agreement on real clips (``agreement.py`` says why). The file is written to ``<output>.partial``
and renamed onto ``output`` after the checks, so a failed export never leaves (or overwrites) a file that serving
would pick up.
"""

import contextlib
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from rich.console import Console

from pcan_serve.model import PCAN
from pcan_serve.model_io import ModelMeta, load_model
from pcan_serve.model_io.onnx_session import ort_cuda_usable

from .agreement import AgreementReport
from .fp16 import convert_fp16
from .graph import trace_onnx
from .int8 import int8_agreement, quantize_int8
from .options import OnnxExportOptions
from .quant_data import manifest_cases
from .verify import VerificationReport, ort_runner, run_verification, sample_case, standard_cases, torch_runner


@dataclass
class ExportResult:
    path: Path
    meta: ModelMeta
    size_bytes: int
    export_seconds: float
    verify_seconds: float
    report: VerificationReport | AgreementReport | None  # AgreementReport: int8


@contextlib.contextmanager
def staged(output: Path, partial: Path | None = None) -> Iterator[Path]:
    """The path to write ``output`` to (default ``<output>.partial``): renamed onto it when the block succeeds,
    deleted when it raises."""
    partial = partial or output.with_name(output.name + ".partial")
    try:
        yield partial
        os.replace(partial, output)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def export_verified_onnx(options: OnnxExportOptions, console: Console | None = None) -> ExportResult:
    """Export ``options.checkpoint`` (None: untrained ``options.preset``) in ``options.precision``; verified unless
    ``options.verify`` is off. ``options.fusion_weights`` overrides the model's own; its temperatures are built
    into the graph."""
    console = console or Console(stderr=True)
    model, info = load_model(options.checkpoint, preset=options.preset, device="cpu")
    meta = info.description
    if options.fusion_weights is not None:
        meta = replace(meta, fusion_weights=options.fusion_weights)
    output, precision = options.output, options.precision
    with tempfile.TemporaryDirectory(dir=output.parent, prefix=".pcan-export-") as tmp, staged(output) as partial:
        fp32 = partial if precision == "fp32" else Path(tmp) / "fp32.onnx"
        cases = manifest_cases(options.quant_data, meta, options.quant_clips) if precision == "int8" else []
        start = time.perf_counter()
        trace_onnx(model, meta, fp32, options.opset)
        if precision == "fp16":
            meta = convert_fp16(fp32, partial)
        elif precision == "int8":
            meta = quantize_int8(fp32, partial, cases)
        export_s = time.perf_counter() - start
        start = time.perf_counter()
        report = _check(model, fp32, partial, meta, cases, options, console) if options.verify else None
        verify_s = time.perf_counter() - start
    return ExportResult(output, meta, output.stat().st_size, export_s, verify_s, report)


def _check(
    model: PCAN, fp32: Path, partial: Path, meta: ModelMeta, cases: list, options: OnnxExportOptions, console: Console
) -> VerificationReport | AgreementReport:
    """Print each check's table and raise ``VerificationFailed`` at the first that fails.

    fp16 runs on ONNX Runtime's CUDA provider where it has one and a GPU is; else on the CPU provider, which has
    no fp16 kernels for these nodes: it computes them in fp32 on the fp16 weights (its optimised graph has no Cast
    left), so it proves the graph and the rounding of the weights, not fp16 arithmetic (``pcan bench --device
    cuda`` measures that). int8: the fp32 graph against PyTorch first, then int8 against fp32 on real clips.
    """
    cuda = options.half and ort_cuda_usable()
    name = f"ONNX Runtime ({'CUDA' if cuda else 'CPU'})" + (", fp16 backbone" if options.half else "")
    report = verify_against_torch(model, partial if options.half else fp32, meta, options, name, cuda)
    report.print(console)
    report.raise_for_failure()
    if options.precision != "int8":
        return report
    found = options.sample_files()
    checked = cases + ([sample_case(meta.config, *found)] if found else [])
    agreement = int8_agreement(fp32, partial, meta, checked, options.min_agreement)
    agreement.print(console)
    agreement.raise_for_failure()
    return agreement


def verify_against_torch(
    model: PCAN, path: Path, meta: ModelMeta, options: OnnxExportOptions, candidate: str, cuda: bool = False
) -> VerificationReport:
    """ONNX Runtime on ``path`` (CPU provider, or CUDA's with ``cuda``) against PyTorch fp64 (temperatures
    applied) on random clips at ``options.verify_batches`` and the sample."""
    notes: list[str] = []
    cases = standard_cases(meta.config, options.verify_batches, options.sample_files(), notes)
    reference = torch_runner(model, temperatures=meta.temperatures)
    report = run_verification(
        reference, ort_runner(path, cuda=cuda), cases, options.max_abs_diff, "PyTorch (CPU, fp64)", candidate
    )
    report.notes += notes
    return report
