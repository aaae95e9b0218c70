"""RGBPoseConv3D: an RGB (slow) and a Pose-heatmap (fast) pathway with bilateral lateral connections."""

from dataclasses import dataclass

import torch
from torch import nn

from .resnet3d import ResNet3dPathway


@dataclass(frozen=True)
class BackboneConfig:
    """Hyper-parameters of mmaction2's ``rgbpose_conv3d.py`` config (the defaults) or a smaller variant."""

    speed_ratio: int = 4
    channel_ratio: int = 4
    fusion_kernel: int = 7
    rgb_base_channels: int = 64
    rgb_stage_blocks: tuple[int, ...] = (3, 4, 6, 3)
    rgb_lateral_infl: int = 1
    rgb_lateral_activate: tuple[int, ...] = (0, 0, 1, 1)
    rgb_inflate: tuple[int, ...] = (0, 0, 1, 1)
    pose_in_channels: int = 17
    pose_base_channels: int = 32
    pose_stage_blocks: tuple[int, ...] = (4, 6, 3)
    pose_lateral_infl: int = 16
    pose_lateral_activate: tuple[int, ...] = (0, 1, 1)
    pose_inflate: tuple[int, ...] = (0, 1, 1)


class RGBPoseConv3D(nn.Module):
    """Two-pathway 3D CNN; RGB stage k+1 exchanges features with pose stage k (k = 1, 2).

    Returns ``(x_rgb, x_pose)``: [N, 2048, 8, H/32, W/32] and [N, 512, 32, h/8, w/8] for the full
    model (RGB frames at 4x the heatmap resolution and 1/speed_ratio of its frame rate).
    """

    def __init__(self, cfg: BackboneConfig = BackboneConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        common = dict(speed_ratio=cfg.speed_ratio, channel_ratio=cfg.channel_ratio, fusion_kernel=cfg.fusion_kernel)
        self.rgb_path = ResNet3dPathway(
            in_channels=3,
            base_channels=cfg.rgb_base_channels,
            stage_blocks=cfg.rgb_stage_blocks,
            spatial_strides=(1, 2, 2, 2),
            temporal_strides=(1, 1, 1, 1),
            inflate=cfg.rgb_inflate,
            lateral_inv=False,
            lateral_infl=cfg.rgb_lateral_infl,
            lateral_activate=cfg.rgb_lateral_activate,
            **common,
        )
        self.pose_path = ResNet3dPathway(
            in_channels=cfg.pose_in_channels,
            base_channels=cfg.pose_base_channels,
            stage_blocks=cfg.pose_stage_blocks,
            spatial_strides=(2, 2, 2),
            temporal_strides=(1, 1, 1),
            inflate=cfg.pose_inflate,
            conv1_stride_s=1,
            pool1_stride_s=1,
            lateral_inv=True,
            lateral_infl=cfg.pose_lateral_infl,
            lateral_activate=cfg.pose_lateral_activate,
            **common,
        )

    @property
    def out_channels(self) -> tuple[int, int]:
        return self.rgb_path.out_channels, self.pose_path.out_channels

    def forward(self, imgs: torch.Tensor, heatmaps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        rgb, pose = self.rgb_path, self.pose_path
        x_rgb = rgb.layer2(rgb.layer1(rgb.stem(imgs)))
        x_pose = pose.layer1(pose.stem(heatmaps))
        # Stage exchange: RGB stage k+1 meets pose stage k; both laterals read the pre-concat features.
        for rgb_stage, pose_stage in ((2, 1), (3, 2)):
            to_rgb = getattr(rgb, f"layer{rgb_stage}_lateral", None)
            to_pose = getattr(pose, f"layer{pose_stage}_lateral", None)
            from_pose = to_rgb(x_pose) if to_rgb is not None else None
            from_rgb = to_pose(x_rgb) if to_pose is not None else None
            if from_pose is not None:
                x_rgb = torch.cat((x_rgb, from_pose), dim=1)
            if from_rgb is not None:
                x_pose = torch.cat((x_pose, from_rgb), dim=1)
            x_rgb = getattr(rgb, f"layer{rgb_stage + 1}")(x_rgb)
            x_pose = getattr(pose, f"layer{pose_stage + 1}")(x_pose)
        return x_rgb, x_pose
