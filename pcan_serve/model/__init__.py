"""The PCAN model in plain PyTorch (no mmcv/mmengine), with mmaction2's parameter names."""

from .config import PRESETS, PCANConfig, PreprocessConfig, preset_config
from .head import LOSS_COMPONENTS, HeadConfig, PCANHead, mutual_distillation
from .pcan import PCAN, build_pcan
from .rgbposeconv3d import BackboneConfig, RGBPoseConv3D

__all__ = [
    "LOSS_COMPONENTS",
    "PCAN",
    "PRESETS",
    "BackboneConfig",
    "HeadConfig",
    "PCANConfig",
    "PCANHead",
    "PreprocessConfig",
    "RGBPoseConv3D",
    "build_pcan",
    "mutual_distillation",
    "preset_config",
]
