"""PCAN configuration and presets; a checkpoint or an exported model carries its config as a dict."""

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from ..labels import ntu60_class_names
from .head import HeadConfig
from .rgbposeconv3d import BackboneConfig


@dataclass(frozen=True)
class PreprocessConfig:
    """Parameters of the val/test pipeline the model was trained with (docs/architecture.md "Preprocessing")."""

    clip_len_rgb: int = 8
    clip_len_pose: int = 32
    resize: int = 256
    heatmap_scaling: float = 0.25
    sigma: float = 0.7
    mean: tuple[float, float, float] = (123.675, 116.28, 103.53)
    std: tuple[float, float, float] = (58.395, 57.12, 57.375)
    compact_padding: float = 0.25
    compact_threshold: int = 10

    @property
    def heatmap_size(self) -> int:
        return int(self.resize * self.heatmap_scaling + 0.5)


@dataclass(frozen=True)
class PCANConfig:
    name: str
    backbone: BackboneConfig = BackboneConfig()
    head: HeadConfig = HeadConfig()
    preprocess: PreprocessConfig = PreprocessConfig()
    class_names: tuple[str, ...] = field(default_factory=ntu60_class_names)

    def __post_init__(self) -> None:
        if len(self.class_names) != self.head.num_classes:
            raise ValueError(f"{len(self.class_names)} class names for {self.head.num_classes} classes")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "PCANConfig":
        """Rebuild from ``to_dict`` output; unknown keys are an error (a newer pcan wrote them)."""
        parts = {"backbone": BackboneConfig, "head": HeadConfig, "preprocess": PreprocessConfig}
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key in parts:
                kwargs[key] = _build(parts[key], value)
            elif key == "class_names":
                kwargs[key] = tuple(value)
            elif key == "name":
                kwargs[key] = str(value)
            else:
                raise ValueError(f"unknown PCAN config field {key!r}")
        return cls(**kwargs)

    def input_shapes(self, batch: int = 1) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """imgs [N, 3, T, R, R] and heatmaps [N, K, T', R/4, R/4] as the preset preprocesses them."""
        p = self.preprocess
        return (
            (batch, 3, p.clip_len_rgb, p.resize, p.resize),
            (batch, self.backbone.pose_in_channels, p.clip_len_pose, p.heatmap_size, p.heatmap_size),
        )

    def with_num_classes(self, class_names: tuple[str, ...]) -> "PCANConfig":
        return replace(self, head=replace(self.head, num_classes=len(class_names)), class_names=class_names)


def _build(kind: type, value: dict[str, Any]) -> Any:
    known = {f.name for f in fields(kind)}
    unknown = set(value) - known
    if unknown:
        raise ValueError(f"unknown {kind.__name__} fields {sorted(unknown)}")
    return kind(**{k: tuple(v) if isinstance(v, list) else v for k, v in value.items()})


def _ntu60() -> PCANConfig:
    return PCANConfig(name="ntu60")


def _tiny() -> PCANConfig:
    """Same structure (two pathways, both lateral exchanges, all four heads), few channels, 64 px input."""
    return PCANConfig(
        name="tiny",
        backbone=BackboneConfig(
            rgb_base_channels=8,
            rgb_stage_blocks=(1, 1, 1, 1),
            pose_base_channels=4,
            pose_stage_blocks=(1, 1, 1),
        ),
        head=HeadConfig(fused_dim=32, fused_heads=2),
        preprocess=PreprocessConfig(resize=64),
    )


PRESETS = {"ntu60": _ntu60, "tiny": _tiny}


def preset_config(name: str, num_classes: int | None = None) -> PCANConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    cfg = PRESETS[name]()
    if num_classes is not None and num_classes != cfg.head.num_classes:
        cfg = cfg.with_num_classes(tuple(f"class_{i}" for i in range(num_classes)))
    return cfg
