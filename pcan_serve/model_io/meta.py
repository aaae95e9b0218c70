"""The one model description (``ModelMeta``) that every artefact carries, so serving needs nothing but the file.

Where it lives: a checkpoint's ``meta['pcan']`` (a dict), an ONNX file's ``metadata_props['pcan']`` and a
TensorRT engine's sidecar ``<engine>.json`` (both JSON text). One format, one version, one reader
(:meth:`ModelMeta.from_dict`): a description missing a required field is a ``CheckpointError`` that names it.
"""

import json
import math
from dataclasses import dataclass, field
from typing import Any

from ..errors import CheckpointError
from ..model import PCANConfig
from ..model.scores import DEFAULT_FUSION_WEIGHTS, check_fusion_weights

METADATA_KEY = "pcan"
FORMAT_VERSION = 1
REQUIRED_CONFIG_FIELDS = ("name", "class_names", "preprocess")
BRANCHES = ("rgb", "pose", "fused")


@dataclass(frozen=True)
class ModelMeta:
    """What a model is: its config (architecture, class names, preprocessing) and how its outputs are served.

    ``fused_head``: the fused head was trained (else only rgb, pose and their late fusion are served).
    ``fusion_weights``: late-fusion weights (rgb, pose). ``calibration``: per-branch temperatures and their
    fit (docs/architecture.md "Calibration"), None when uncalibrated; learned fusion weights are copied into
    ``fusion_weights`` when it is fitted, so they are the default everywhere. ``quantization``: the numbers of an
    ONNX file that is not fp32: ``"int8"`` (static int8 backbone, ONNX Runtime's CPU provider) or ``"fp16"`` (fp16
    backbone, fp32 head, for its CUDA provider); None for fp32.
    """

    config: PCANConfig
    fused_head: bool = True
    weights: str = "trained"  # "trained" | "untrained"
    fusion_weights: tuple[float, float] = DEFAULT_FUSION_WEIGHTS
    calibration: dict[str, Any] | None = field(default=None, compare=True)
    quantization: str | None = None

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.config.class_names

    @property
    def calibrated(self) -> bool:
        return self.calibration is not None

    @property
    def temperatures(self) -> dict[str, float]:
        """The temperature dividing each branch's logits before the softmax; 1.0 where none was fitted."""
        fitted = (self.calibration or {}).get("temperature") or {}
        return {b: float(fitted.get(b, 1.0)) for b in BRANCHES}

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "config": self.config.to_dict(),
            "fused_head": self.fused_head,
            "weights": self.weights,
            "fusion_weights": list(self.fusion_weights),
            "calibration": self.calibration,
            "quantization": self.quantization,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: Any, source: str = "model") -> "ModelMeta":
        """Read a description back; ``source`` names the file in errors."""
        if not isinstance(data, dict):
            raise CheckpointError(f"{source}: pcan metadata is a {type(data).__name__}, expected an object")
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise CheckpointError(
                f"{source}: pcan metadata format_version {version!r} is not {FORMAT_VERSION} "
                "(written by another pcan version?)"
            )
        config = data.get("config")
        if not isinstance(config, dict):
            raise CheckpointError(f"{source}: pcan metadata lacks the required field 'config'")
        missing = [k for k in REQUIRED_CONFIG_FIELDS if k not in config]
        if missing:
            raise CheckpointError(f"{source}: pcan metadata lacks the required field 'config.{missing[0]}'")
        try:
            return cls(
                config=PCANConfig.from_dict(config),
                # checkpoints written before the description was unified name it fused_head_trained
                fused_head=bool(data.get("fused_head", data.get("fused_head_trained", True))),
                weights=str(data.get("weights", "trained")),
                fusion_weights=check_fusion_weights(data.get("fusion_weights", DEFAULT_FUSION_WEIGHTS)),
                calibration=_calibration(data.get("calibration")),
                quantization=data.get("quantization"),
            )
        except (TypeError, ValueError) as exc:
            raise CheckpointError(f"{source}: invalid pcan metadata: {exc}") from None

    @classmethod
    def from_json(cls, text: str | bytes, source: str = "model") -> "ModelMeta":
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise CheckpointError(f"{source}: pcan metadata is not JSON ({exc})") from None
        return cls.from_dict(data, source)


def _calibration(value: Any) -> dict[str, Any] | None:
    """Temperatures reach the softmax of every backend: anything but positive finite numbers is refused."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError(f"calibration must be an object, not {type(value).__name__}")
    temperatures = value.get("temperature", {})
    if not isinstance(temperatures, dict):
        raise ValueError("calibration.temperature must map branches to numbers")
    for branch, t in temperatures.items():
        if isinstance(t, bool) or not isinstance(t, int | float) or not math.isfinite(t) or t <= 0:
            raise ValueError(f"calibration.temperature.{branch} must be a positive number, not {t!r}")
    return value
