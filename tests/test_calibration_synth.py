"""Calibration on the synthetic set, through the real commands: `pcan train` ends calibrated, `pcan calibrate`
repairs a deliberately over-confident model (judged on videos not used for fitting), and the learned temperatures
and fusion weights are what `pcan predict` and an exported ONNX model serve (HTTP: test_calibration.py).

The over-confident model: the session's trained checkpoint (conftest ``trained``) solves the synthetic set
perfectly, and a branch without errors has nothing to calibrate against (its NLL falls all the way to T -> 0).
So each classifier is perturbed until its branch errs (seeded noise, rgb the most: it is the strongest), then
scaled by 4: wrong answers given with near-certainty, what temperature scaling exists to fix.
"""

import csv
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from train_helpers import CONFIG, ROOT, tail, train_env
from typer.testing import CliRunner

from pcan_serve import load_model, save_checkpoint
from pcan_serve.cli import app as pcan
from pcan_serve.model.scores import fusion_name, late_fusion
from pcan_serve.model_io import read_meta
from training.calibration import ece, nll, probabilities
from training.synth import SynthSpec, generate

pytestmark = pytest.mark.slow  # the quick loop (-m 'not slow') leaves it out; make test runs it

SCALE = 4.0
NOISE = {"fc_rgb": 8.0, "fc_pose": 1.0, "fc_fused": 1.0}  # x the weights' std: val top-1 about 47 %, 75 %, 75 %
LOADER = ["val_dataloader.num_workers=0", "val_dataloader.persistent_workers=False"]
HELD_OUT = SynthSpec(num_classes=4, videos_per_class=10, seed=1, val_fraction=0.9)  # other videos: seed 1
runner = CliRunner()


def test_train_ends_calibrated_with_a_summary_and_curves(trained):
    work_dir, best = trained
    meta = read_meta(work_dir / "calibrated.pth")
    assert meta.calibrated and not read_meta(best).calibrated  # the runner's own checkpoints stay as written
    learned = meta.calibration["fusion_weights"]
    assert meta.fusion_weights == (learned["rgb"], learned["pose"])
    summary = json.loads((work_dir / "training_summary.json").read_text())
    calibration = summary["calibration"]
    for key in ("ece_before", "ece_after", "nll_before", "nll_after", "temperature"):
        assert set(calibration[key]) == {"rgb", "pose", "fused"}
    assert calibration["num_samples"] == 32 and calibration["split"] == "val"
    assert {k for k in calibration["top1"] if k.startswith("late_")} >= {"late_1:1", "late_0.6:0.4", "late_1:0"}
    assert set(summary["curves"]["loss"]) >= {"loss_rgb", "loss_pose", "loss_align", "loss_fused"}
    assert set(summary["curves"]["val_top1"]) == {"rgb", "pose", "fused", "RGBPose_1:1"}
    assert (work_dir / "training_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = (work_dir / "training_summary.md").read_text()
    assert "ECE before" in text and "calibrated.pth" in text and fusion_name(meta.fusion_weights) in text


@pytest.fixture(scope="module")
def overconfident(trained, tmp_path_factory) -> Path:
    _, best = trained
    model, info = load_model(best)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, sigma in NOISE.items():
            fc = getattr(model.cls_head, name)
            fc.weight.add_(torch.randn(fc.weight.shape, generator=gen) * sigma * fc.weight.std())
            fc.weight.mul_(SCALE)
            fc.bias.mul_(SCALE)
    return save_checkpoint(model, tmp_path_factory.mktemp("over") / "over.pth", description=info.description)


@pytest.fixture(scope="module")
def calibrated(overconfident, synth_set) -> Path:
    """`pcan calibrate` (its own process, as a user runs it) on the synthetic val split; the output is named after
    the input by default."""
    cmd = [str(Path(sys.executable).with_name("pcan")), "calibrate", str(overconfident)]
    cmd += ["--data-root", str(synth_set.root), "--cfg-options", *LOADER]
    proc = subprocess.run(cmd, cwd=ROOT, env=train_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, tail(proc)
    assert "temperature rgb" in proc.stdout and "ECE rgb" in proc.stdout
    out = overconfident.with_name("over_calibrated.pth")
    meta = read_meta(out)
    assert meta.calibrated and meta.calibration["num_samples"] == 32
    assert meta.fusion_weights == tuple(meta.calibration["fusion_weights"].values())
    return out


@pytest.fixture(scope="module")
def held_out(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("held_out"), HELD_OUT)


def test_calibration_lowers_nll_on_held_out_videos(overconfident, calibrated, held_out):
    from training.calibrate import collect_logits
    from training.train import build_config

    cfg = build_config(CONFIG, data_root=held_out.root, cfg_options=LOADER)
    model, info = load_model(overconfident)
    logits, labels = collect_logits(cfg, model, info.description)
    temperature = read_meta(calibrated).temperatures
    assert len(labels) == 36
    for branch, values in logits.items():
        t = temperature[branch]
        before, after = probabilities(values), probabilities(values, t)
        assert t > 1.5  # confidently wrong: it must cool down
        assert nll(values, labels, t) < nll(values, labels), branch
        assert (after.argmax(1) == before.argmax(1)).all()  # top-1 unchanged by temperature
        accuracy = (before.argmax(1) == labels).mean()
        print(
            f"held-out {branch}: T {t:.3f}  NLL {nll(values, labels):.4f} -> {nll(values, labels, t):.4f}  "
            f"ECE {ece(before, labels):.4f} -> {ece(after, labels):.4f}  top-1 {accuracy:.3f}"
        )
    print("fit on val:", json.dumps(read_meta(calibrated).calibration))


def _predict_rows(model_flag: str, model: Path, manifest: Path, out: Path) -> list[dict]:
    args = ["predict", "--manifest", str(manifest), model_flag, str(model), "--top-k", "4", "-o", str(out)]
    res = runner.invoke(pcan, [*args, "--device", "cpu", "--no-progress"])
    assert res.exit_code == 0, res.output
    return [json.loads(line) for line in out.read_text().splitlines()]


def _full(entries: list[dict]) -> np.ndarray:
    p = np.zeros(len(entries))
    for e in entries:
        p[e["label"]] = e["score"]
    return p


@pytest.fixture(scope="module")
def manifest(held_out, tmp_path_factory) -> Path:
    """Four held-out videos (one per class), paths absolute."""
    rows = list(csv.DictReader((held_out.root / "manifest_val.csv").open()))
    path = tmp_path_factory.mktemp("manifest") / "four.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["video", "skeleton"])
        for label in range(4):
            row = next(r for r in rows if int(r["label"]) == label)
            writer.writerow([held_out.root / row["video"], held_out.root / row["skeleton"]])
    return path


def test_cli_serves_the_temperatures_and_the_learned_fusion(overconfident, calibrated, manifest, tmp_path):
    meta = read_meta(calibrated)
    plain = _predict_rows("--checkpoint", overconfident, manifest, tmp_path / "plain.jsonl")
    tempered = _predict_rows("--checkpoint", calibrated, manifest, tmp_path / "tempered.jsonl")
    for raw, row in zip(plain, tempered, strict=True):
        assert raw["fusion"] == "late_1:1" and raw["model"]["calibrated"] is False
        assert row["fusion"] == fusion_name(meta.fusion_weights) and row["model"]["calibrated"] is True
        served = {}
        for branch, t in meta.temperatures.items():
            p_raw, p = _full(raw["branches"][branch]["top_k"]), _full(row["branches"][branch]["top_k"])
            with np.errstate(divide="ignore"):
                expected = torch.softmax(torch.from_numpy(np.log(p_raw)) / t, dim=0).numpy()
            np.testing.assert_allclose(p, expected, atol=1e-5)
            assert p.argmax() == p_raw.argmax()
            served[branch] = p
        fused = late_fusion(served["rgb"], served["pose"], meta.fusion_weights)
        np.testing.assert_allclose(_full(row["top_k"]), fused, atol=1e-6)


def test_learned_fusion_and_temperatures_survive_onnx_export(calibrated, manifest, tmp_path):
    out, override = tmp_path / "cal.onnx", tmp_path / "override.onnx"
    for path, extra in ((out, []), (override, ["--fusion-weights", "1:1"])):
        # --no-verify: the served answers are compared with the checkpoint's below (and test_calibration.py
        # verifies a calibrated graph against PyTorch)
        args = ["--checkpoint", str(calibrated), "--output", str(path), "--no-verify", *extra]
        res = runner.invoke(pcan, ["export", "onnx", *args])
        assert res.exit_code == 0, res.output
    meta = read_meta(calibrated)
    assert read_meta(out) == meta
    assert read_meta(override) == replace(meta, fusion_weights=(1.0, 1.0))  # calibration kept, weights overridden
    ckpt_rows = _predict_rows("--checkpoint", calibrated, manifest, tmp_path / "ckpt.jsonl")
    onnx_rows = _predict_rows("--onnx", out, manifest, tmp_path / "onnx.jsonl")
    override_rows = _predict_rows("--onnx", override, manifest, tmp_path / "override.jsonl")
    for a, b, c in zip(ckpt_rows, onnx_rows, override_rows, strict=True):
        assert a["fusion"] == b["fusion"] and c["fusion"] == "late_1:1" and b["model"]["calibrated"]
        np.testing.assert_allclose(_full(a["top_k"]), _full(b["top_k"]), atol=1e-4)
        for branch in ("rgb", "pose", "fused"):
            pa = _full(a["branches"][branch]["top_k"])
            np.testing.assert_allclose(pa, _full(b["branches"][branch]["top_k"]), atol=1e-4)
            np.testing.assert_allclose(pa, _full(c["branches"][branch]["top_k"]), atol=1e-4)
