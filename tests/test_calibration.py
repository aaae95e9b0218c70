"""Calibration without training: the fit (temperature, ECE, fusion grid), the model description that carries it,
and every backend applying it (torch divides the logits, the exported ONNX graph does the same)."""

from dataclasses import replace

import numpy as np
import onnx
import pytest
import requests
import torch

from benchmarks.local_server import local_server
from export import OnnxExportOptions, export_verified_onnx
from export.verify import random_case
from pcan_serve import load_model, save_checkpoint
from pcan_serve.errors import CheckpointError
from pcan_serve.model.scores import fusion_name, late_fusion
from pcan_serve.model_io import ModelMeta, read_meta
from pcan_serve.runtime import Frontend, OnnxRuntimeBackend, Predictor, TorchBackend
from training.calibration import (
    FUSION_GRID,
    choose_fusion_weights,
    ece,
    fit,
    fit_temperature,
    nll,
    probabilities,
)

TEMPERATURES = {"rgb": 2.0, "pose": 0.5, "fused": 3.0}


def _calibrated_set(n: int = 3000, classes: int = 10, clips: int = 1, seed: int = 0):
    """Logits whose softmax is calibrated by construction (labels drawn from it), and those labels."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 2.0, (n, clips, classes))
    p = probabilities(logits)
    labels = np.array([rng.choice(classes, p=row) for row in p])
    return logits, labels


def test_temperature_fit_undoes_overconfidence_and_keeps_top1():
    logits, labels = _calibrated_set()
    overconfident = 3.0 * logits
    t = fit_temperature(overconfident, labels)
    assert t == pytest.approx(3.0, rel=0.1)
    assert nll(overconfident, labels, t) < nll(overconfident, labels)
    before, after = probabilities(overconfident), probabilities(overconfident, t)
    assert ece(after, labels) < 0.03 < 0.1 < ece(before, labels)
    assert (after.argmax(1) == before.argmax(1)).all()
    underconfident = logits / 2.0  # the other direction: T < 1
    assert fit_temperature(underconfident, labels) == pytest.approx(0.5, rel=0.1)


def test_fit_scores_the_clip_average_that_serving_returns():
    logits, labels = _calibrated_set(n=500, clips=3, seed=1)
    t = 1.7
    expected = torch.softmax(torch.from_numpy(logits) / t, dim=2).mean(dim=1).numpy()
    np.testing.assert_allclose(probabilities(logits, t), expected, rtol=1e-10, atol=1e-12)
    assert nll(logits, labels, t) == pytest.approx(-np.log(expected[np.arange(500), labels]).mean(), rel=1e-10)


def test_ece_uses_15_equal_width_bins():
    labels = np.array([0, 0, 1, 1])
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.4, 0.6], [0.4, 0.6]])  # right, right, right, right
    assert ece(probs, labels) == pytest.approx((2 * 0.1 + 2 * 0.4) / 4)
    assert ece(np.array([[1.0, 0.0]]), np.array([0])) == 0.0  # confidence 1 lands in the last bin


def test_fusion_grid_picks_the_best_weights_and_prefers_1_to_1_on_ties():
    labels = np.array([0, 1])
    p_rgb = np.array([[0.6, 0.4, 0.0], [0.34, 0.33, 0.33]])  # right and sure / wrong and unsure
    p_pose = np.array([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0]])  # wrong and sure / right
    weights, top1 = choose_fusion_weights(p_rgb, p_pose, labels)
    assert weights == (0.9, 0.1) and top1["late_0.9:0.1"] == 1.0 and top1["late_1:1"] == 0.5
    assert late_fusion(p_rgb, p_pose, weights).argmax(1).tolist() == [0, 1]
    same, top1 = choose_fusion_weights(p_pose, p_pose, labels)
    assert same == (1.0, 1.0) and len(set(top1.values())) == 1  # every candidate ties: 1:1
    assert len(FUSION_GRID) == 11 and len(top1) == 11


@pytest.mark.parametrize(
    ("weights", "name"),
    [
        ((1.0, 1.0), "late_1:1"),
        ((2.0, 1.0), "late_2:1"),
        ((0.6, 0.4), "late_0.6:0.4"),
        ((0.65, 0.35), "late_0.65:0.35"),
    ],
)
def test_fusion_names_of_learned_and_given_weights(weights, name):
    assert fusion_name(weights) == name
    assert {fusion_name(w) for w in FUSION_GRID} >= {"late_0.3:0.7", "late_0.7:0.3", "late_0:1", "late_1:0"}


def test_fit_record_has_the_designed_shape():
    logits, labels = _calibrated_set(n=400)
    result = fit({"rgb": 2 * logits, "pose": logits, "fused": 0.5 * logits}, labels, split="xsub_val")
    stored = result.to_meta()
    assert set(stored) == {"temperature", "fusion_weights", "ece_before", "ece_after", "split", "num_samples"}
    assert set(stored["temperature"]) == set(stored["ece_after"]) == {"rgb", "pose", "fused"}
    assert stored["fusion_weights"] == dict(zip(("rgb", "pose"), result.fusion_weights, strict=True))
    assert (stored["split"], stored["num_samples"]) == ("xsub_val", 400)
    assert stored["temperature"]["rgb"] > 1 > stored["temperature"]["fused"]
    assert all(result.nll_after[b] <= result.nll_before[b] for b in stored["temperature"])


def test_description_temperatures_and_refused_values(tiny_ckpt):
    meta = read_meta(tiny_ckpt)
    assert not meta.calibrated and meta.temperatures == {"rgb": 1.0, "pose": 1.0, "fused": 1.0}
    partial = replace(meta, calibration={"temperature": {"rgb": 1.5}})
    assert partial.calibrated and partial.temperatures == {"rgb": 1.5, "pose": 1.0, "fused": 1.0}
    for bad in (0, -1.0, float("nan"), "2", True):
        data = {**meta.to_dict(), "calibration": {"temperature": {"pose": bad}}}
        with pytest.raises(CheckpointError, match="calibration.temperature.pose must be a positive number"):
            ModelMeta.from_dict(data, "m.pth")


@pytest.fixture(scope="module")
def calibrated_ckpt(tiny_ckpt, tmp_path_factory):
    """The tiny checkpoint with fixed temperatures and learned-looking fusion weights in its description."""
    model, info = load_model(tiny_ckpt)
    calibration = {"temperature": TEMPERATURES, "fusion_weights": {"rgb": 0.7, "pose": 0.3}}
    meta = replace(info.description, calibration=calibration, fusion_weights=(0.7, 0.3))
    return save_checkpoint(model, tmp_path_factory.mktemp("cal") / "calibrated.pth", description=meta)


def _temper(probs: np.ndarray, t: float) -> np.ndarray:
    """softmax(z / T) from softmax(z): log p = z - const."""
    return torch.softmax(torch.from_numpy(np.log(probs.astype(np.float64))) / t, dim=1).numpy()


def test_torch_backend_divides_logits_by_the_temperatures(tiny_ckpt, calibrated_ckpt):
    plain, calibrated = TorchBackend(tiny_ckpt), TorchBackend(calibrated_ckpt)
    case = random_case(plain.meta.config, 3, seed=5)
    raw, got = plain.run(case.imgs, case.heatmaps), calibrated.run(case.imgs, case.heatmaps)
    for branch, t in TEMPERATURES.items():
        np.testing.assert_allclose(got[branch], _temper(raw[branch], t), atol=1e-6)
        assert (got[branch].argmax(1) == raw[branch].argmax(1)).all()
        assert np.abs(got[branch] - raw[branch]).max() > 1e-3  # the temperature changed the scores
    assert Frontend(plain.meta, "torch").served_model.calibrated is False
    front = Frontend(calibrated.meta, "torch")
    assert front.served_model.calibrated is True and front.fusion_weights == (0.7, 0.3)


def test_predictor_serves_the_learned_fusion(calibrated_ckpt, sample_video, sample_skeleton):
    result = (
        Predictor.from_path(calibrated_ckpt, device="cpu").predict(sample_video, sample_skeleton, top_k=60).to_dict()
    )
    assert result["fusion"] == "late_0.7:0.3" and result["model"]["calibrated"] is True
    p = {b: np.zeros(60) for b in ("rgb", "pose")}
    for b in p:
        for entry in result["branches"][b]["top_k"]:
            p[b][entry["label"]] = entry["score"]
    served = {entry["label"]: entry["score"] for entry in result["top_k"]}
    expected = late_fusion(p["rgb"], p["pose"], (0.7, 0.3))
    assert max(abs(served[c] - expected[c]) for c in served) < 1e-6


def test_http_serves_the_learned_fusion_and_temperatures(calibrated_ckpt, sample_video, sample_skeleton, tmp_path):
    """The service's API process builds its Frontend from the model's description alone: the same answer."""
    local = Predictor.from_path(calibrated_ckpt, device="cpu").predict(sample_video, sample_skeleton, top_k=5).to_dict()
    env = {"BENTOML_HOME": str(tmp_path / "bentoml"), "BENTOML_DO_NOT_TRACK": "True", "PCAN_TORCH_THREADS": "1"}
    with local_server(checkpoint=calibrated_ckpt, device="cpu", env=env, startup_s=240) as url:
        files = {"video": sample_video.open("rb"), "skeleton": sample_skeleton.open("rb")}
        http = requests.post(f"{url}/predict", files=files, data={"top_k": "5"}, timeout=120).json()
    assert http["fusion"] == local["fusion"] == "late_0.7:0.3"
    assert http["model"] == local["model"] and http["model"]["calibrated"] is True
    (labels, scores), (want_labels, want_scores) = _ranked(http), _ranked(local)
    assert labels == want_labels and np.allclose(scores, want_scores, atol=1e-5, rtol=0)


def _ranked(result: dict) -> tuple[list[int], list[float]]:
    """Labels and scores of the served top-k, then of each branch's."""
    lists = [result["top_k"]] + [result["branches"][b]["top_k"] for b in ("rgb", "pose", "fused")]
    return [e["label"] for k in lists for e in k], [e["score"] for k in lists for e in k]


def _divisions(path) -> int:
    return sum(node.op_type == "Div" for node in onnx.load(str(path)).graph.node)


def test_onnx_graph_applies_the_temperatures_and_keeps_the_learned_fusion(calibrated_ckpt, tiny_ckpt, tmp_path):
    out = tmp_path / "cal.onnx"
    result = export_verified_onnx(
        OnnxExportOptions(checkpoint=calibrated_ckpt, output=out, sample=None, verify_batches=(1,))
    )
    assert result.report.ok  # ORT vs fp64 PyTorch with the same temperatures
    meta = read_meta(out)
    assert meta == read_meta(calibrated_ckpt) and meta.fusion_weights == (0.7, 0.3)
    torch_be, ort_be = TorchBackend(calibrated_ckpt), OnnxRuntimeBackend(out)
    case = random_case(meta.config, 2, seed=9)
    ref, got = torch_be.run(case.imgs, case.heatmaps), ort_be.run(case.imgs, case.heatmaps)
    for branch in TEMPERATURES:
        assert np.abs(ref[branch] - got[branch]).max() <= 1e-4
    plain = export_verified_onnx(
        OnnxExportOptions(checkpoint=tiny_ckpt, output=tmp_path / "plain.onnx", verify=False)
    ).path
    assert _divisions(out) == _divisions(plain) + 3  # one Div per calibrated branch; none when uncalibrated
    options = OnnxExportOptions(
        checkpoint=calibrated_ckpt, output=tmp_path / "o.onnx", verify=False, fusion_weights="1:1"
    )
    overridden = export_verified_onnx(options)
    assert overridden.meta.fusion_weights == (1.0, 1.0) and overridden.meta.calibration == meta.calibration
    assert Predictor.from_path(overridden.path, device="cpu").fusion_weights == (1.0, 1.0)


@pytest.mark.parametrize(
    ("args", "words"),
    [(["missing.pth"], "checkpoint not found"), (["{ckpt}", "--output", "no/such/dir/c.pth"], "folder does not exist")],
)
def test_pcan_calibrate_usage_errors_exit_2(tiny_ckpt, tmp_path, args, words):
    from typer.testing import CliRunner

    from pcan_serve.cli import app

    argv = ["calibrate", *(a.format(ckpt=tiny_ckpt) for a in args), "--data-root", str(tmp_path)]
    res = CliRunner().invoke(app, argv)
    assert res.exit_code == 2 and words in res.output
