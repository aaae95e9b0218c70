"""Static int8 quantisation of an exported fp32 ONNX model, for ONNX Runtime's CPU provider.

Only the backbone's operators are quantised (its 3-D convolutions are > 99 % of the FLOPs); the head stays fp32
for the reason ``pcan_serve/runtime/precision.py`` gives for fp16: its attention over the RGB tokens and its
peaked classifiers amplify rounding, and it costs next to nothing. Activation ranges are calibrated (MinMax) on
real clips preprocessed as serving does; weights are per output channel. QDQ format: ONNX Runtime fuses each
DequantizeLinear -> Conv -> QuantizeLinear into a QLinearConv (3-D included) when it loads the file, and it is
the format ONNX Runtime recommends for its CPU kernels. ``reduce_range`` (7-bit weights) because AVX2 CPUs
without VNNI multiply u8 x s8 pairs into int16 with saturation (ONNX Runtime's guidance for such CPUs); the file
then gives the same answers on any x86 CPU, VNNI or not.
"""

import contextlib
import logging
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import onnx
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from rich.console import Console

from pcan_serve.model_io import ModelMeta, read_onnx_meta
from pcan_serve.preprocess.sources import ntu_sample

from .agreement import measure_agreement
from .onnx_export import DEFAULT_OPSET, ExportResult, Sample, attach_meta, export_verified_onnx, staged
from .quant_data import DEFAULT_CLIPS, manifest_cases
from .verify import FP32_TOLERANCE, Case, ort_runner, sample_case

INT8 = "int8"
# What ONNX Runtime's CPU provider runs in int8 here (QLinearConv, QLinearAdd, QLinearConcat, uint8 MaxPool; a Relu
# folds into its producer's range). The laterals' ConvTranspose and BatchNormalization have no int8 kernel: quantising
# them would only round their weights, per tensor, and run them in fp32 all the same.
INT8_OPS = ("Conv", "Add", "Concat", "MaxPool", "Relu")
MIN_AGREEMENT = 0.95  # top-1 equal to the fp32 graph's on at least this share of the real clips, per output
BACKBONE_SCOPE = "/model/backbone/"  # node names the TorchScript exporter gives ProbabilityModel.model.backbone


class _Clips(CalibrationDataReader):
    """One clip per calibration step: the augmented calibration graph keeps every activation of a batch."""

    def __init__(self, cases: Sequence[Case]) -> None:
        self._feeds: Iterator[dict] = (
            {"imgs": c.imgs[i : i + 1], "heatmaps": c.heatmaps[i : i + 1]} for c in cases for i in range(c.batch)
        )

    def get_next(self) -> dict | None:
        return next(self._feeds, None)


@contextlib.contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """The quantiser logs advice to the root logger ("consider pre-processing": its symbolic shape inference and
    fusions, which ONNX Runtime applies when it loads the file anyway); the export prints its own report."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def backbone_nodes(proto: onnx.ModelProto) -> list[str]:
    """The nodes to quantise; a graph without any (another exporter's names) cannot be quantised safely."""
    names = [n.name for n in proto.graph.node if n.name.startswith(BACKBONE_SCOPE)]
    if not names:
        raise ValueError(f"no node is named {BACKBONE_SCOPE}...: not a graph written by `pcan export onnx`")
    return names


def quantize_int8(
    fp32: str | Path,
    output: str | Path,
    cases: Sequence[Case],
) -> ModelMeta:
    """Write ``output``: ``fp32`` with its backbone in int8, ranges calibrated on ``cases``; returns its metadata
    (the fp32 file's, with ``quantization="int8"``), which the file carries like any export."""

    if not cases:
        raise ValueError("int8 calibration needs at least one clip")
    meta = replace(read_onnx_meta(fp32), quantization=INT8)
    with _quiet_root_logger():
        quantize_static(
            str(fp32),
            str(output),
            _Clips(cases),
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=list(INT8_OPS),
            per_channel=True,
            reduce_range=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            nodes_to_quantize=backbone_nodes(onnx.load(str(fp32))),
        )
    clips = sum(c.batch for c in cases)
    attach_meta(output, meta, f"backbone static int8 (QDQ, per-channel 7-bit weights), calibrated on {clips} clips")
    return meta


def export_int8_onnx(
    checkpoint: str | Path | None,
    output: str | Path,
    quant_data: str | Path,
    preset: str | None = None,
    opset: int = DEFAULT_OPSET,
    clips: int = DEFAULT_CLIPS,
    min_agreement: float = MIN_AGREEMENT,
    verify: bool = True,
    sample: Sample = "auto",
    tolerance: float = FP32_TOLERANCE,
    fusion_weights: tuple[float, float] | None = None,
    console: Console | None = None,
) -> ExportResult:
    """The fp32 export (verified against PyTorch as usual), quantised with ranges from ``clips`` videos of the
    ``quant_data`` manifest, kept only if its top-1 equals the fp32 graph's on at least ``min_agreement`` of
    those clips (and the sample, when there is one) for every served output."""
    console = console or Console(stderr=True)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=output.parent, prefix=".pcan-int8-") as tmp:
        base = export_verified_onnx(
            checkpoint, Path(tmp) / "fp32.onnx", preset, opset, verify, sample, tolerance, fusion_weights, console
        )
        cases = manifest_cases(quant_data, base.meta, clips)
        report = None
        with staged(output) as partial:
            start = time.perf_counter()
            meta = quantize_int8(base.path, partial, cases)
            quantize_s = time.perf_counter() - start
            start = time.perf_counter()
            if verify:
                found = ntu_sample() if sample == "auto" else sample
                checked = cases + ([sample_case(meta.config, *found)] if found else [])
                outputs = ("rgb", "pose", "fused") if meta.fused_head else ("rgb", "pose")
                names = ("ONNX Runtime fp32", "ONNX Runtime int8")
                runners = ort_runner(base.path), ort_runner(partial)
                report = measure_agreement(*runners, checked, outputs, meta.fusion_weights, names, min_agreement)
                report.print(console)
                report.raise_for_failure()
            verify_s = time.perf_counter() - start
    export_s = base.export_seconds + quantize_s
    return ExportResult(output, meta, output.stat().st_size, export_s, base.verify_seconds + verify_s, report)
