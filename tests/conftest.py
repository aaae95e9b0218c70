"""Fixtures shared by the suite: the real NTU sample, tiny seeded checkpoints and one verified ONNX export of one,
and the synthetic set with the tiny preset trained on it by `pcan train` (one run per session, for test_train.py,
test_calibration_synth.py and test_export_int8.py)."""

from pathlib import Path

import pytest
import torch
from train_helpers import SPEC, run_train, tail

from pcan_serve import save_checkpoint
from pcan_serve.model import build_pcan
from pcan_serve.preprocess.sources import SAMPLE_DIR, SAMPLE_ENV, ntu_sample

SAMPLE = ntu_sample()


def _sample() -> tuple[Path, Path]:
    if SAMPLE is None:
        pytest.fail(f"NTU sample missing (looked in ${SAMPLE_ENV} and {SAMPLE_DIR})")
    return SAMPLE


@pytest.fixture(scope="session")
def sample_video() -> Path:
    return _sample()[0]


@pytest.fixture(scope="session")
def sample_skeleton() -> Path:
    return _sample()[1]


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory) -> Path:
    """A tiny PCAN checkpoint, seeded; larger head weights give distinct, input-dependent probabilities."""
    torch.manual_seed(0)
    model = build_pcan("tiny")
    with torch.no_grad():
        for fc in (model.cls_head.fc_rgb, model.cls_head.fc_pose, model.cls_head.fc_fused):
            fc.weight.normal_(0, 0.5)
    return save_checkpoint(model, tmp_path_factory.mktemp("ckpt") / "tiny.pth")


@pytest.fixture(scope="session")
def peaked_ckpt(tmp_path_factory) -> Path:
    """A tiny checkpoint with export.synthetic's weights: peaked, unsaturated probabilities (rgb max > 0.2 at every
    batch the export tests compare), in which a runtime's or a precision's error shows if it is too large."""
    from export.synthetic import randomise_weights

    torch.manual_seed(2)  # the convolutions' initial weights: the same model whichever tests ran before
    return save_checkpoint(randomise_weights(build_pcan("tiny")), tmp_path_factory.mktemp("ckpt") / "peaked.pth")


@pytest.fixture(scope="session")
def tiny_onnx(peaked_ckpt, tmp_path_factory, sample_video, sample_skeleton):
    """``peaked_ckpt`` exported to ONNX with late fusion 2:1 stored in the file, verified on random inputs and the
    NTU sample: the one export the ONNX and TensorRT tests share (an ``ExportResult``)."""
    from export import OnnxExportOptions, export_verified_onnx

    out = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    options = OnnxExportOptions(
        checkpoint=peaked_ckpt, output=out, sample=(sample_video, sample_skeleton), fusion_weights="2:1"
    )
    return export_verified_onnx(options)


@pytest.fixture(scope="session")
def synth_set(tmp_path_factory):
    from training.synth import generate

    return generate(tmp_path_factory.mktemp("synth"), SPEC)


@pytest.fixture(scope="session")
def trained(synth_set, tmp_path_factory):
    """The tiny preset trained from scratch by the CLI with the config's defaults (5 epochs, then calibrated)."""
    work_dir = tmp_path_factory.mktemp("train") / "work"
    proc = run_train(work_dir, synth_set.root, "--cfg-options", "train_cfg.val_interval=5")
    assert proc.returncode == 0, tail(proc)
    best = next(work_dir.glob("best_acc_RGBPose_1-1_top1_epoch_*.pth"))  # portable: no ':' in file names
    assert not [p.name for p in work_dir.rglob("*:*")]
    return work_dir, best
