"""Non-trivial weights for checking an export when no trained checkpoint is at hand.

A freshly initialised PCAN outputs near-uniform probabilities (zero-initialised last BN per block,
head weights of std 0.01), so any two runtimes agree to ~1e-9 and a comparison proves little. Merely
perturbing BN parameters goes wrong the other way on the 50-layer model: activations grow through the
blocks until the softmax saturates to one-hot (differences of exactly 0) and fp16 overflows. So:
BN scales and shifts are randomised, then BN statistics are *calibrated* on random inputs (as training
would), and the classifiers are scaled to give logits of a few units: peaked, unsaturated probabilities
that make BN folding, the attention and the softmax all matter.
"""

import math

import torch
from torch import nn

from pcan_serve.model import PCAN

from .verify import random_case


def _fill(t: torch.Tensor, g: torch.Generator, kind: str, a: float, b: float) -> None:
    values = torch.empty(t.shape, dtype=t.dtype)
    if kind == "uniform":
        values.uniform_(a, b, generator=g)
    else:
        values.normal_(a, b, generator=g)
    t.copy_(values)


@torch.no_grad()
def randomise_weights(model: PCAN, seed: int = 0, logit_scale: float = 3.0, calib_batch: int = 1) -> PCAN:
    """In place, on CPU; returns ``model`` in eval mode.

    BN weight ~ U(0.5, 1.5), bias ~ N(0, 0.1); BN running statistics = the batch statistics of one random
    batch of ``calib_batch`` clips; classifier weights ~ N(0, logit_scale / sqrt(fan_in · mean(x²))), so
    logits have a standard deviation of about ``logit_scale``.
    """
    g = torch.Generator().manual_seed(seed)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm3d)]
    for m in bns:
        _fill(m.weight, g, "uniform", 0.5, 1.5)
        _fill(m.bias, g, "normal", 0.0, 0.1)
        m.reset_running_stats()
        m.momentum = None  # cumulative average: the stats of exactly the calibration batch
    case = random_case(model.config, calib_batch, seed=seed + 1000)
    imgs, heatmaps = torch.from_numpy(case.imgs), torch.from_numpy(case.heatmaps)
    model.train()
    model.backbone(imgs, heatmaps)
    for m in bns:
        m.momentum = 0.1
    model.eval()
    x_rgb, x_pose = model.backbone(imgs, heatmaps)
    head = model.cls_head
    rgb_vec, pose_vec = head.avg_pool(x_rgb).flatten(1), head.avg_pool(x_pose).flatten(1)
    fused_vec = head._attend(x_rgb, pose_vec)
    for fc, x in ((head.fc_rgb, rgb_vec), (head.fc_pose, pose_vec), (head.fc_fused, fused_vec)):
        rms = float(x.pow(2).mean().sqrt()) or 1.0
        _fill(fc.weight, g, "normal", 0.0, logit_scale / (math.sqrt(fc.in_features) * rms))
        _fill(fc.bias, g, "normal", 0.0, 0.1)
    return model
