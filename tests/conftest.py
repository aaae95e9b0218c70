import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLE_DIR = Path(os.environ.get("PCAN_SAMPLE_DIR", REPO.parent / "shared" / "data" / "ntu60_sample"))
SAMPLE_VIDEO = SAMPLE_DIR / "S001C001P001R001A001_rgb.avi"
SAMPLE_SKELETON = SAMPLE_DIR / "S001C001P001R001A001.json"


@pytest.fixture(scope="session")
def sample_video() -> Path:
    if not SAMPLE_VIDEO.exists():
        pytest.fail(f"NTU sample missing at {SAMPLE_VIDEO} (set PCAN_SAMPLE_DIR)")
    return SAMPLE_VIDEO


@pytest.fixture(scope="session")
def sample_skeleton() -> Path:
    return SAMPLE_SKELETON
