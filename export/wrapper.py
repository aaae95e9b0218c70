"""The graph that gets exported: PCAN plus a softmax per branch, so every runtime returns probabilities.

A calibrated model's temperatures are part of that graph (logits / T before each softmax): ONNX Runtime and
TensorRT only ever see probabilities, so the graph is the one place where they can be applied.
"""

from collections.abc import Mapping

import torch
from torch import nn

from pcan_serve.model import PCAN
from pcan_serve.model.scores import calibrated_softmax

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
        return tuple(calibrated_softmax(logits[b], self.temperatures.get(b, 1.0)) for b in BRANCHES)
