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
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import onnx
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

from pcan_serve.model_io import ModelMeta, read_onnx_meta

from .agreement import AgreementReport, measure_agreement
from .graph import attach_meta, backbone_nodes
from .verify import Case, ort_runner

INT8 = "int8"
# What ONNX Runtime's CPU provider runs in int8 here (QLinearConv, QLinearAdd, QLinearConcat, uint8 MaxPool; a Relu
# folds into its producer's range). The laterals' ConvTranspose and BatchNormalization have no int8 kernel: quantising
# them would only round their weights, per tensor, and run them in fp32 all the same.
INT8_OPS = ("Conv", "Add", "Concat", "MaxPool", "Relu")


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


def int8_agreement(
    fp32: Path, int8: Path, meta: ModelMeta, cases: Sequence[Case], min_agreement: float
) -> AgreementReport:
    """ONNX Runtime on both files over ``cases`` (the calibration clips and the sample): the share of clips whose
    top-1 is the same, per served output (a fused head that was never trained is not served, so not judged)."""
    outputs = ("rgb", "pose", "fused") if meta.fused_head else ("rgb", "pose")
    names = ("ONNX Runtime fp32", "ONNX Runtime int8")
    runners = ort_runner(fp32), ort_runner(int8)
    return measure_agreement(*runners, cases, outputs, meta.fusion_weights, names, min_agreement)
