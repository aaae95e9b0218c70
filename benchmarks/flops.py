"""FLOPs per clip, counted by ``torch.utils.flop_counter.FlopCounterMode`` over one forward of the model.

The forward runs on the ``meta`` device: every aten op of the real graph is dispatched (so the count is
measured, not a formula), but no arithmetic is done, which takes a second instead of a CPU forward.
Counted: convolutions and matrix products (2 FLOPs per multiply-add); norms, activations and pooling are
not, as is usual for such figures (they are under 1 % here).
"""

from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from pcan_serve.model import PCAN, PCANConfig


def count_flops(config: PCANConfig) -> dict[str, Any]:
    """``{"flops_per_clip": int, "by_op": {op: flops}, "method": ...}`` for one clip (batch 1)."""
    imgs_shape, heat_shape = config.input_shapes(1)
    with torch.device("meta"):
        model = PCAN(config).eval()
        imgs, heatmaps = torch.empty(imgs_shape), torch.empty(heat_shape)
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model(imgs, heatmaps)
    by_op = {str(op).removeprefix("aten."): int(n) for op, n in counter.get_flop_counts()["Global"].items()}
    return {
        "flops_per_clip": int(counter.get_total_flops()),
        "by_op": by_op,
        "method": "torch.utils.flop_counter.FlopCounterMode, one forward (batch 1) on the meta device",
    }
