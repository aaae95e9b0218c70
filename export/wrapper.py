"""The graph that gets exported: PCAN plus a softmax per branch, so every runtime returns probabilities.

A calibrated model's temperatures are part of that graph (logits / T before each softmax): ONNX Runtime and
TensorRT only ever see probabilities, so the graph is the one place where they can be applied.
"""

from collections.abc import Mapping

import torch
from torch import nn

from pcan_serve.model import PCAN

BRANCHES = ("rgb", "pose", "fused")


class ProbabilityModel(nn.Module):
    """``(imgs, heatmaps) -> (p_rgb, p_pose, p_fused)``, each softmax(logits / T) over classes, [N, C].

    The outputs are a tuple (not a dict) so the exporter names them positionally; the fused output is
    always present, and the file's metadata says whether it was trained. ``temperatures`` (``ModelMeta
    .temperatures``): a branch at 1.0, or absent, gets no division, so an uncalibrated graph is unchanged.
    """

    def __init__(self, model: PCAN, temperatures: Mapping[str, float] | None = None) -> None:
        super().__init__()
        self.model = model.eval()
        self.temperatures = {b: float(t) for b, t in (temperatures or {}).items() if float(t) != 1.0}

    def forward(self, imgs: torch.Tensor, heatmaps: torch.Tensor) -> tuple[torch.Tensor, ...]:
        logits = self.model(imgs, heatmaps)
        return tuple(torch.softmax(self._scaled(b, _at_least_fp32(logits[b])), dim=1) for b in BRANCHES)

    def _scaled(self, branch: str, logits: torch.Tensor) -> torch.Tensor:
        return logits / self.temperatures[branch] if branch in self.temperatures else logits


def _at_least_fp32(x: torch.Tensor) -> torch.Tensor:
    """Half-precision logits (autocast) get an fp32 softmax; fp32 traces emit no Cast, fp64 stays fp64."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
