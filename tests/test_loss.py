"""PCAN loss: each component as docs/architecture.md defines it, weighted by loss_weights; gradients reach all."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from pcan_serve.model import PCAN, build_pcan, mutual_distillation, preset_config


def _batch(n=4, classes=60):
    g = torch.Generator().manual_seed(3)
    return (
        torch.randn(n, 3, 8, 64, 64, generator=g),
        torch.rand(n, 17, 32, 16, 16, generator=g),
        torch.randint(0, classes, (n,), generator=g),
    )


def _kl(p_target, log_q):
    return (p_target * (p_target.log() - log_q)).sum(1).mean()


def test_components_match_their_definitions():
    torch.manual_seed(0)
    model = build_pcan("tiny").eval()  # eval: dropout off, so logits are reproducible
    imgs, hm, labels = _batch()
    logits = model(imgs, hm)
    losses = model.cls_head.loss(logits, labels)
    w = dict(zip(model.config.head.loss_components, model.config.head.loss_weights, strict=True))
    assert w == {"rgb": 1.0, "pose": 1.2, "align": 0.5, "fused": 0.8}
    for name in ("rgb", "pose", "fused"):
        expected = F.cross_entropy(logits[name], labels) * w[name]
        torch.testing.assert_close(losses[f"loss_{name}"], expected)
    t = 2.0
    p_rgb, p_pose = F.softmax(logits["rgb"] / t, 1), F.softmax(logits["pose"] / t, 1)
    expected_align = (_kl(p_rgb, p_pose.log()) + _kl(p_pose, p_rgb.log())) * t**2 * w["align"]
    torch.testing.assert_close(losses["loss_align"], expected_align)


def test_align_is_zero_for_identical_branches_and_positive_otherwise():
    a = torch.randn(5, 10)
    assert mutual_distillation(a, a.clone(), 2.0).abs().item() < 1e-6
    assert mutual_distillation(a, torch.randn(5, 10), 2.0).item() > 0


def test_align_gradient_stops_at_the_target():
    """KL(sg(p_rgb) || p_pose): the pose term must not move rgb logits and vice versa."""
    rgb = torch.randn(3, 6, requires_grad=True)
    pose = torch.randn(3, 6, requires_grad=True)
    t = 2.0
    log_pose = F.log_softmax(pose / t, 1)
    target = F.softmax(rgb / t, 1).detach()
    only_pose_term = (target * (target.log() - log_pose)).sum(1).mean() * t**2
    full = mutual_distillation(rgb, pose, t)
    g_full = torch.autograd.grad(full, pose, retain_graph=True)[0]
    g_term = torch.autograd.grad(only_pose_term, pose)[0]
    torch.testing.assert_close(g_full, g_term)


def test_weights_scale_components():
    cfg = preset_config("tiny")
    cfg2 = dataclasses.replace(cfg, head=dataclasses.replace(cfg.head, loss_weights=(1.0, 2.0, 0.0, 0.8)))
    torch.manual_seed(0)
    m1 = PCAN(cfg).eval()
    m2 = PCAN(cfg2).eval()
    m2.load_state_dict(m1.state_dict())
    imgs, hm, labels = _batch()
    l1, l2 = m1.loss(imgs, hm, labels), m2.loss(imgs, hm, labels)
    torch.testing.assert_close(l2["loss_pose"], l1["loss_pose"] / 1.2 * 2.0)
    assert l2["loss_align"].item() == 0.0
    torch.testing.assert_close(l2["loss_rgb"], l1["loss_rgb"])


def test_gradients_reach_both_pathways_and_the_fused_head():
    torch.manual_seed(0)
    model = build_pcan("tiny").train()
    imgs, hm, labels = _batch()
    total = sum(model.loss(imgs, hm, labels).values())
    total.backward()
    groups = {
        "rgb_path": model.backbone.rgb_path,
        "pose_path": model.backbone.pose_path,
        "rgb lateral": model.backbone.rgb_path.layer2_lateral,
        "pose lateral": model.backbone.pose_path.layer1_lateral,
        "fc_fused": model.cls_head.fc_fused,
        "fused attention": model.cls_head.fused_key,
        "fc_rgb": model.cls_head.fc_rgb,
        "fc_pose": model.cls_head.fc_pose,
    }
    for name, module in groups.items():
        norm = sum(p.grad.abs().sum().item() for p in module.parameters() if p.grad is not None)
        assert norm > 0, f"no gradient reaches {name}"


def test_bad_head_config_is_rejected():
    cfg = preset_config("tiny")
    with pytest.raises(ValueError, match="same length"):
        PCAN(dataclasses.replace(cfg, head=dataclasses.replace(cfg.head, loss_weights=(1.0,))))
    with pytest.raises(ValueError, match="unknown loss components"):
        bad = dataclasses.replace(cfg.head, loss_components=("rgb", "depth"), loss_weights=(1.0, 1.0))
        PCAN(dataclasses.replace(cfg, head=bad))


def test_reduced_precision_runs_the_head_in_fp32():
    """The serving policy (backbone autocast, head fp32), checked with bf16 autocast on the CPU."""
    from pcan_serve.runtime.precision import mixed_precision_logits

    torch.manual_seed(0)
    model = build_pcan("tiny").eval()
    imgs, hm, _ = _batch(2)
    seen = {}
    model.cls_head.fc_fused.register_forward_hook(lambda m, args, out: seen.update(dtype=out.dtype))
    with torch.no_grad():
        ref = model(imgs, hm)
        mixed = mixed_precision_logits(model, imgs, hm, torch.bfloat16)
    assert seen["dtype"] == torch.float32
    for k in ("rgb", "pose", "fused"):
        assert mixed[k].dtype == torch.float32
        torch.testing.assert_close(mixed[k], ref[k], atol=5e-2, rtol=5e-2)  # bf16 backbone only
