"""PCAN head: RGB, Pose and pose-conditioned fused classifiers, and the four-component PCAN loss."""

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

LOSS_COMPONENTS = ("rgb", "pose", "align", "fused")


@dataclass(frozen=True)
class HeadConfig:
    num_classes: int = 60
    dropout: float = 0.5
    fused_dim: int = 256
    fused_heads: int = 4
    align_temperature: float = 2.0
    loss_components: tuple[str, ...] = LOSS_COMPONENTS
    loss_weights: tuple[float, ...] = (1.0, 1.2, 0.5, 0.8)
    init_std: float = 0.01


class PCANHead(nn.Module):
    """Classifiers over the two pathways' features.

    ``fc_rgb``/``fc_pose`` are mmaction2's ``RGBPoseHead`` (GAP -> dropout -> linear). The fused branch
    lets the pose clip summary ask *where in the RGB volume* the action is: a query from GAP(x_pose)
    attends over the T*h*w RGB tokens (multi-head, width ``fused_dim``); the attended RGB vector and
    the projected pose query are concatenated and classified by ``fc_fused``.
    """

    def __init__(self, in_channels: Sequence[int], cfg: HeadConfig = HeadConfig()) -> None:
        super().__init__()
        if len(cfg.loss_components) != len(cfg.loss_weights):
            raise ValueError("loss_components and loss_weights need the same length")
        unknown = set(cfg.loss_components) - set(LOSS_COMPONENTS)
        if unknown:
            raise ValueError(f"unknown loss components {sorted(unknown)}; known: {LOSS_COMPONENTS}")
        if cfg.fused_dim % cfg.fused_heads:
            raise ValueError("fused_dim must be a multiple of fused_heads")
        self.cfg = cfg
        c_rgb, c_pose = in_channels
        d = cfg.fused_dim
        self.avg_pool = nn.AdaptiveAvgPool3d((1, 1, 1))
        self.dropout_rgb = nn.Dropout(cfg.dropout)
        self.dropout_pose = nn.Dropout(cfg.dropout)
        self.dropout_fused = nn.Dropout(cfg.dropout)
        self.fc_rgb = nn.Linear(c_rgb, cfg.num_classes)
        self.fc_pose = nn.Linear(c_pose, cfg.num_classes)
        self.fused_query = nn.Linear(c_pose, d)
        self.fused_key = nn.Linear(c_rgb, d)
        self.fused_value = nn.Linear(c_rgb, d)
        self.fused_out = nn.Linear(d, d)
        self.fc_fused = nn.Linear(2 * d, cfg.num_classes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for fc in (self.fc_rgb, self.fc_pose, self.fc_fused):
            nn.init.normal_(fc.weight, std=self.cfg.init_std)
            nn.init.zeros_(fc.bias)
        for proj in (self.fused_query, self.fused_key, self.fused_value, self.fused_out):
            nn.init.xavier_uniform_(proj.weight)
            nn.init.zeros_(proj.bias)

    def _attend(self, x_rgb: torch.Tensor, pose_vec: torch.Tensor) -> torch.Tensor:
        n, heads = x_rgb.shape[0], self.cfg.fused_heads
        tokens = x_rgb.flatten(2).transpose(1, 2)  # [N, T*h*w, C_rgb]
        q = self.fused_query(pose_vec).view(n, heads, 1, -1)  # [N, heads, 1, dh]
        k = self.fused_key(tokens).view(n, tokens.shape[1], heads, -1).transpose(1, 2)
        v = self.fused_value(tokens).view(n, tokens.shape[1], heads, -1).transpose(1, 2)
        attn = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), dim=-1)
        attended = self.fused_out((attn @ v).reshape(n, -1))  # [N, d]
        return torch.cat((attended, self.fused_query(pose_vec)), dim=1)

    def forward(self, x_rgb: torch.Tensor, x_pose: torch.Tensor) -> dict[str, torch.Tensor]:
        rgb_vec = self.avg_pool(x_rgb).flatten(1)
        pose_vec = self.avg_pool(x_pose).flatten(1)
        return {
            "rgb": self.fc_rgb(self.dropout_rgb(rgb_vec)),
            "pose": self.fc_pose(self.dropout_pose(pose_vec)),
            "fused": self.fc_fused(self.dropout_fused(self._attend(x_rgb, pose_vec))),
        }

    def loss(self, logits: dict[str, torch.Tensor], labels: torch.Tensor) -> dict[str, torch.Tensor]:
        """Weighted loss components ``loss_rgb``, ``loss_pose``, ``loss_align``, ``loss_fused``."""
        losses = {}
        for name, weight in zip(self.cfg.loss_components, self.cfg.loss_weights, strict=True):
            if name == "align":
                value = mutual_distillation(logits["rgb"], logits["pose"], self.cfg.align_temperature)
            else:
                value = F.cross_entropy(logits[name], labels)
            losses[f"loss_{name}"] = value * weight
        return losses


def mutual_distillation(rgb: torch.Tensor, pose: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL(sg(p_rgb) || p_pose) + KL(sg(p_pose) || p_rgb) at temperature T, scaled by T^2.

    Each branch is pulled towards the other's (detached) softened distribution; the T^2 factor keeps
    the gradient scale independent of T (Hinton et al., 2015).
    """
    log_rgb = F.log_softmax(rgb / temperature, dim=1)
    log_pose = F.log_softmax(pose / temperature, dim=1)
    kl_pose = F.kl_div(log_pose, log_rgb.detach(), log_target=True, reduction="batchmean")
    kl_rgb = F.kl_div(log_rgb, log_pose.detach(), log_target=True, reduction="batchmean")
    return (kl_pose + kl_rgb) * temperature**2
