"""Reduced-precision inference policy: the backbone in fp16/bf16, the head in fp32.

Measured on an H200 with randomised full-model weights: with the whole model under fp16 autocast the
fused branch's probabilities were off by up to 7.2e-2 from an fp64 reference (rgb 2.7e-5, pose 1.3e-3).
The fused head's attention logits over 512 RGB tokens and its peaked classifier amplify fp16 rounding,
while the head costs well under 1 % of the FLOPs. So only the 3D convolutions run in reduced precision.
"""

import torch

from ..model import PCAN


def mixed_precision_logits(
    model: PCAN, imgs: torch.Tensor, heatmaps: torch.Tensor, dtype: torch.dtype | None
) -> dict[str, torch.Tensor]:
    """``dtype=None``: plain fp32. Otherwise the backbone runs under autocast(dtype), the head in fp32."""
    if dtype is None:
        return model(imgs, heatmaps)
    with torch.autocast(imgs.device.type, dtype=dtype):
        x_rgb, x_pose = model.backbone(imgs, heatmaps)
    with torch.autocast(imgs.device.type, enabled=False):
        return model.cls_head(x_rgb.float(), x_pose.float())
