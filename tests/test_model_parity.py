"""PCAN's backbone + rgb/pose heads must equal mmaction2's RGBPoseConv3D + RGBPoseHead (full size)."""

import pytest
import torch
from mmengine.runner.checkpoint import save_checkpoint as mm_save_checkpoint

from pcan_serve import load_model
from pcan_serve.model import preset_config
from training.mm_reference import build_mm_model

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def mm_model():
    torch.manual_seed(0)
    model = build_mm_model(preset_config("ntu60"))
    # random BN statistics and affine params, so the eval-mode comparison exercises every tensor
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm3d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.1, 0.1)
            elif isinstance(m, torch.nn.Linear):
                m.weight.normal_(0, 0.05)
    return model


def test_logits_equal_mmaction2(mm_model, tmp_path):
    path = tmp_path / "rgbpose.pth"
    mm_save_checkpoint({"state_dict": mm_model.state_dict(), "meta": {"epoch": 3}}, str(path))
    model, info = load_model(path)
    assert info.kind == "mmengine"
    assert not info.fused_head and "fused head" in " ".join(info.notes)

    g = torch.Generator().manual_seed(1)
    imgs = torch.randn(2, 3, 8, 256, 256, generator=g)
    heatmaps = torch.rand(2, 17, 32, 64, 64, generator=g)
    seen = []  # the backbone's features inside the same forward (a second backbone pass would double the time)
    model.backbone.register_forward_hook(lambda module, inputs, output: seen.append(output))
    with torch.no_grad():
        feats = mm_model.backbone(imgs, heatmaps)
        ref = mm_model.cls_head(feats)
        ours = model(imgs, heatmaps)
    [(x_rgb, x_pose)] = seen
    assert x_rgb.shape == (2, 2048, 8, 8, 8) and x_pose.shape == (2, 512, 32, 8, 8)
    for branch in ("rgb", "pose"):
        diff = (ours[branch] - ref[branch]).abs().max().item()
        assert diff <= 1e-4, f"{branch} logits differ by {diff}"
    assert (x_rgb - feats[0]).abs().max().item() <= 1e-4
