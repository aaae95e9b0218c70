"""What ``pcan export onnx|tensorrt`` take, with their defaults and their rules written once.

The CLI builds these objects from its flags (and shows the defaults written here); the exporters take them. An
option that cannot work raises :class:`InvalidExportOptions` when the object is built, before anything is loaded
or written, with a message about the values (the CLI maps it to exit 2). Pydantic: typed fields, frozen objects,
and the defaults readable from the class (``defaults``) for the help texts.

No onnx or onnxruntime here (the exporters import them): the ``pcan`` CLI imports this module at start-up.
"""

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from pcan_serve.errors import InvalidRequest
from pcan_serve.model.scores import check_fusion_weights, parse_fusion_weights

FP32_TOLERANCE = 1e-4  # max |Δp| of an fp32 export against PyTorch fp64 (export/verify.py says why fp64)
FP16_TOLERANCE = 1e-2  # the same for an fp16 backbone (ONNX) or fp16 kernels (TensorRT)
MIN_OPSET = 17
VERIFY_BATCHES = (1, 4)

Sample = tuple[Path, Path] | None | Literal["auto"]
Precision = Literal["fp32", "fp16", "int8"]


class InvalidExportOptions(InvalidRequest):
    """An export option is out of range, contradicts another, or names a file or folder that is not there."""


def max_opset() -> int:
    """The newest opset torch's TorchScript exporter writes."""
    from torch.onnx import _constants

    return int(getattr(_constants, "ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET", 20))


class ExportOptions(BaseModel):
    """What both exports take: where the file goes, and whether and how it is checked against its source.

    ``sample``: the real clip (video, skeleton) verified on beside random inputs; ``"auto"``: the NTU sample
    when one is found (``pcan_serve.preprocess.sources.ntu_sample``), None: random inputs only.
    ``tolerance``: max |Δp| of the probabilities; None: 1e-4, or 1e-2 where the file computes in fp16.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    output: Path
    verify: bool = True
    tolerance: float | None = None
    sample: Sample = "auto"

    @property
    def half(self) -> bool:
        """Whether the exported file computes in fp16 (a looser default tolerance)."""
        return False

    @property
    def max_abs_diff(self) -> float:
        """The tolerance the verification holds the file to."""
        if self.tolerance is not None:
            return self.tolerance
        return FP16_TOLERANCE if self.half else FP32_TOLERANCE

    def sample_files(self) -> tuple[Path, Path] | None:
        if self.sample != "auto":
            return self.sample
        from pcan_serve.preprocess.sources import ntu_sample

        return ntu_sample()

    @model_validator(mode="after")
    def _common(self) -> "ExportOptions":
        if not self.output.parent.is_dir():
            raise InvalidExportOptions(f"the output folder does not exist: {self.output.parent}")
        if self.tolerance is not None and not self.tolerance > 0:
            raise InvalidExportOptions(f"the tolerance must be a positive number, got {self.tolerance}")
        if self.sample not in ("auto", None):
            for path in self.sample:
                if not path.is_file():
                    raise InvalidExportOptions(f"sample file not found: {path}")
        return self


class OnnxExportOptions(ExportOptions):
    """``checkpoint``: a PCAN/RGBPoseConv3D checkpoint, None for untrained weights of ``preset`` (None: the
    checkpoint's own preset, else ntu60). ``fusion_weights``: the late fusion stored in the file (None: the
    model's, learned by calibration, else 1:1). ``precision``: fp32; fp16 backbone for ONNX Runtime's CUDA
    provider; int8 backbone for its CPU provider, calibrated on ``quant_clips`` videos of the ``quant_data``
    manifest and kept when its top-1 equals fp32's on ``min_agreement`` of them."""

    checkpoint: Path | None = None
    preset: str | None = None
    opset: int = MIN_OPSET
    fusion_weights: tuple[float, float] | None = None
    precision: Precision = "fp32"
    quant_data: Path | None = None
    quant_clips: int = 32
    min_agreement: float = 0.95
    verify_batches: tuple[int, ...] = VERIFY_BATCHES

    @property
    def half(self) -> bool:
        return self.precision == "fp16"

    @field_validator("fusion_weights", mode="before")
    @classmethod
    def _weights(cls, value: Any) -> Any:
        """``"R:P"`` text (``2:1``) or two numbers; checked by the one rule (``model.scores``)."""
        if value is None:
            return None
        try:
            return parse_fusion_weights(value) if isinstance(value, str) else check_fusion_weights(value)
        except ValueError as exc:
            raise InvalidExportOptions(str(exc)) from None

    @model_validator(mode="after")
    def _onnx(self) -> "OnnxExportOptions":
        from pcan_serve.model import PRESETS

        if not MIN_OPSET <= self.opset <= max_opset():
            top = max_opset()
            raise InvalidExportOptions(f"opset {self.opset} is outside {MIN_OPSET}..{top} (TorchScript exporter)")
        if self.preset is not None and self.preset not in PRESETS:
            raise InvalidExportOptions(f"unknown preset {self.preset!r}; choose one of {', '.join(sorted(PRESETS))}")
        if self.checkpoint is not None and not self.checkpoint.is_file():
            raise InvalidExportOptions(f"checkpoint not found: {self.checkpoint}")
        self._check_int8()
        if not self.verify_batches or min(self.verify_batches) < 1:
            raise InvalidExportOptions(f"verification batch sizes must be positive, got {self.verify_batches}")
        return self

    def _check_int8(self) -> None:
        int8 = self.precision == "int8"
        if int8 and self.quant_data is None:
            raise InvalidExportOptions("int8 needs a manifest of real clips to calibrate its activation ranges on")
        if self.quant_data is not None and not int8:
            raise InvalidExportOptions("a calibration manifest is only used by the int8 export")
        if self.quant_data is not None and not self.quant_data.is_file():
            raise InvalidExportOptions(f"calibration manifest not found: {self.quant_data}")
        if self.quant_clips < 1:
            raise InvalidExportOptions(f"int8 calibrates on at least one clip, got {self.quant_clips}")
        if not 0 < self.min_agreement <= 1:
            raise InvalidExportOptions(f"the top-1 agreement required must be in (0, 1], got {self.min_agreement}")


class EngineExportOptions(ExportOptions):
    """``onnx``: a file from ``pcan export onnx``; ``fp16``: let TensorRT pick fp16 kernels; the engine accepts
    batches ``min_batch``..``max_batch`` and is tuned for ``opt_batch``; ``workspace_gib``: builder memory."""

    onnx: Path
    fp16: bool = False
    min_batch: int = 1
    opt_batch: int = 4
    max_batch: int = 8
    workspace_gib: float = 4.0

    @property
    def half(self) -> bool:
        return self.fp16

    @property
    def batches(self) -> tuple[int, int, int]:
        return self.min_batch, self.opt_batch, self.max_batch

    @model_validator(mode="after")
    def _engine(self) -> "EngineExportOptions":
        if not 1 <= self.min_batch <= self.opt_batch <= self.max_batch:
            raise InvalidExportOptions(
                f"batch sizes must satisfy 1 <= min <= opt <= max, got {self.min_batch}/{self.opt_batch}/"
                f"{self.max_batch}"
            )
        if not self.onnx.is_file():
            raise InvalidExportOptions(f"ONNX file not found: {self.onnx}")
        if not self.workspace_gib > 0:
            raise InvalidExportOptions(f"the builder workspace must be positive, got {self.workspace_gib} GiB")
        return self


def defaults(options: type[BaseModel]) -> Any:
    """``defaults(OnnxExportOptions).opset`` -> 17: the defaults above, for the CLI's options."""
    return type("Defaults", (), {name: f.default for name, f in options.model_fields.items()})
