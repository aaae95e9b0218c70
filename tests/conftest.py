"""Fixtures shared by the suite: the real NTU sample and a tiny seeded checkpoint."""

from pathlib import Path

import pytest
import torch

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
