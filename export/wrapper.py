"""The graph that gets exported: PCAN plus a softmax per branch, so every runtime returns probabilities."""

import torch
from torch import nn

from pcan_serve.model import PCAN

BRANCHES = ("rgb", "pose", "fused")


class ProbabilityModel(nn.Module):
    """``(imgs, heatmaps) -> (p_rgb, p_pose, p_fused)``, each softmax over classes, [N, C].

    The outputs are a tuple (not a dict) so the exporter names them positionally; the fused output is
    always present, and the file's metadata says whether it was trained.
    """

    def __init__(self, model: PCAN) -> None:
        super().__init__()
        self.model = model.eval()

    def forward(self, imgs: torch.Tensor, heatmaps: torch.Tensor) -> tuple[torch.Tensor, ...]:
        logits = self.model(imgs, heatmaps)
        return tuple(torch.softmax(_at_least_fp32(logits[b]), dim=1) for b in BRANCHES)


def _at_least_fp32(x: torch.Tensor) -> torch.Tensor:
    """Half-precision logits (autocast) get an fp32 softmax; fp32 traces emit no Cast, fp64 stays fp64."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
