"""PCAN = RGBPoseConv3D backbone + PCAN head; the one model that training, export and serving use."""

import torch
from torch import nn

from .config import PCANConfig, preset_config
from .head import PCANHead
from .rgbposeconv3d import RGBPoseConv3D


class PCAN(nn.Module):
    """``forward(imgs [N,3,T,H,W] normalised, heatmaps [N,17,T',h,w])`` -> logits per branch.

    Attribute names ``backbone`` / ``cls_head`` give state-dict keys identical to mmaction2's
    ``MMRecognizer3D`` with ``RGBPoseConv3D`` + ``RGBPoseHead``.
    """

    def __init__(self, config: PCANConfig) -> None:
        super().__init__()
        self.config = config
        self.backbone = RGBPoseConv3D(config.backbone)
        self.cls_head = PCANHead(self.backbone.out_channels, config.head)
        self.init_weights()

    def init_weights(self) -> None:
        """Kaiming convs, unit BatchNorm, zero-init of each block's last BN (mmaction2's defaults)."""
        for m in self.backbone.modules():
            if isinstance(m, (nn.Conv3d, nn.ConvTranspose3d)):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm3d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        for name, m in self.backbone.named_modules():
            if name.endswith("conv3") and hasattr(m, "bn") and m.bn is not None:
                nn.init.zeros_(m.bn.weight)
        self.cls_head.reset_parameters()

    def forward(self, imgs: torch.Tensor, heatmaps: torch.Tensor) -> dict[str, torch.Tensor]:
        x_rgb, x_pose = self.backbone(imgs, heatmaps)
        return self.cls_head(x_rgb, x_pose)

    def loss(self, imgs: torch.Tensor, heatmaps: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.cls_head.loss(self(imgs, heatmaps), labels)


def build_pcan(preset: str | PCANConfig = "ntu60", num_classes: int | None = None) -> PCAN:
    config = preset if isinstance(preset, PCANConfig) else preset_config(preset, num_classes)
    return PCAN(config)
