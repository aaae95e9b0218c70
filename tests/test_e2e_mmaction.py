"""`pcan predict` on the real NTU sample equals mmaction2's own pipeline + model (full RGBPoseConv3D)."""

import json

import pytest
import torch
from mmengine.runner.checkpoint import save_checkpoint as mm_save_checkpoint
from typer.testing import CliRunner

from pcan_serve.cli import app
from pcan_serve.labels import ntu60_class_names
from pcan_serve.model import preset_config
from training.mm_reference import build_mm_model, mm_make_inputs

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def mm_checkpoint(tmp_path_factory):
    """mmaction2's RGBPoseConv3D with random weights spread enough to give a peaked, ordered top-5."""
    torch.manual_seed(7)
    model = build_mm_model(preset_config("ntu60"))
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm3d):
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.8, 1.2)
        # GAP features of this random net have norms of ~4600 (rgb) and ~1300 (pose) on the sample:
        # these scales give logits of std ~2, i.e. a peaked but not one-hot distribution
        model.cls_head.fc_rgb.weight.normal_(0, 5e-4)
        model.cls_head.fc_pose.weight.normal_(0, 2e-3)
    path = tmp_path_factory.mktemp("mm") / "rgbpose_conv3d.pth"
    mm_save_checkpoint({"state_dict": model.state_dict(), "meta": {}}, str(path))
    return model.eval(), path


def test_pcan_predict_equals_mmaction2(mm_checkpoint, sample_video, sample_skeleton, tmp_path):
    mm_model, ckpt = mm_checkpoint
    out = tmp_path / "pred.jsonl"
    res = CliRunner().invoke(
        app,
        [
            "predict",
            str(sample_video),
            "--skeleton",
            str(sample_skeleton),
            "--checkpoint",
            str(ckpt),
            "--top-k",
            "60",
            "--output",
            str(out),
            "--no-progress",
            "--device",
            "cpu",
        ],
        catch_exceptions=False,
    )
    assert res.exit_code == 0, res.output
    row = json.loads(out.read_text())
    assert row["model"]["fused_head"] is False and "fused" not in row["branches"]

    ref_inputs = mm_make_inputs(sample_video, json.loads(sample_skeleton.read_text()), num_clips=1)
    with torch.no_grad():
        feats, _ = mm_model.extract_feat(
            {
                "imgs": torch.from_numpy(ref_inputs["imgs"])[None],
                "heatmap_imgs": torch.from_numpy(ref_inputs["heatmaps"])[None],
            }
        )
        scores = mm_model.cls_head(feats)
        ref = {b: mm_model.cls_head.average_clip(scores[b], num_segs=1)[0] for b in ("rgb", "pose")}

    names = ntu60_class_names()
    for branch in ("rgb", "pose"):
        ours = {d["label"]: d["score"] for d in row["branches"][branch]["top_k"]}
        assert len(ours) == 60
        diff = max(abs(ours[i] - ref[branch][i].item()) for i in range(60))
        assert diff <= 1e-3, f"{branch}: max abs prob diff {diff}"
        ref_top5 = torch.argsort(ref[branch], descending=True)[:5].tolist()
        assert [d["label"] for d in row["branches"][branch]["top_k"][:5]] == ref_top5
        assert ref[branch].max() > 0.05  # a peaked distribution: the top-5 order is not noise among uniforms
    late = (ref["rgb"] + ref["pose"]) / 2
    assert row["prediction"]["label"] == int(late.argmax())
    assert row["prediction"]["name"] == names[row["prediction"]["label"]]
