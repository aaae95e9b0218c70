"""The one home of the scoring rules (pcan_serve/model/scores.py): temperature, late fusion, weights, names."""

import numpy as np
import pytest
import torch

from pcan_serve.model.scores import (
    calibrated_softmax,
    check_fusion_weights,
    fusion_name,
    late_fusion,
    parse_fusion_weights,
    with_late_fusion,
)


@pytest.mark.parametrize("weights", [(1, 1), (2.0, 1.0), (0, 1), (1, 0), [0.6, 0.4]])
def test_valid_fusion_weights_become_float_pairs(weights):
    assert check_fusion_weights(weights) == (float(weights[0]), float(weights[1]))


@pytest.mark.parametrize("weights", [(0, 0), (-1, 2), (1,), (1, 2, 3), ("a", 1), (float("nan"), 1), (float("inf"), 1)])
def test_invalid_fusion_weights_are_refused(weights):
    with pytest.raises(ValueError, match="fusion weights"):
        check_fusion_weights(weights)


def test_parse_fusion_weights_reads_rgb_colon_pose():
    assert parse_fusion_weights("2:1") == (2.0, 1.0)
    assert parse_fusion_weights("0.6:0.4") == (0.6, 0.4)
    for text in ("2", "1:2:3", "a:b", "-1:1", "0:0"):
        with pytest.raises(ValueError, match="RGB:POSE"):
            parse_fusion_weights(text)


def test_late_fusion_is_the_weighted_mean_for_numpy_and_torch():
    rgb, pose = np.array([[0.8, 0.2]]), np.array([[0.2, 0.8]])
    np.testing.assert_allclose(late_fusion(rgb, pose, (3.0, 1.0)), [[0.65, 0.35]])
    fused = late_fusion(torch.from_numpy(rgb), torch.from_numpy(pose), (3.0, 1.0))
    np.testing.assert_allclose(fused.numpy(), [[0.65, 0.35]])
    out = with_late_fusion({"rgb": rgb, "pose": pose, "fused": rgb}, (1.0, 1.0))
    assert set(out) == {"rgb", "pose", "fused", "late"}
    np.testing.assert_allclose(out["late"], [[0.5, 0.5]])


def test_fusion_names():
    assert fusion_name((1.0, 1.0)) == "late_1:1"
    assert fusion_name((0.6, 0.4)) == "late_0.6:0.4"
    assert fusion_name(None) == "fused"


def test_calibrated_softmax_divides_logits_by_the_temperature():
    logits = torch.tensor([[2.0, 0.0, -1.0]])
    np.testing.assert_allclose(calibrated_softmax(logits, 2.0), torch.softmax(logits / 2.0, 1), rtol=1e-6)
    assert torch.equal(calibrated_softmax(logits), torch.softmax(logits, 1))
    half = calibrated_softmax(logits.half(), 1.5)
    assert half.dtype == torch.float32  # a reduced-precision graph still gets an fp32 softmax
