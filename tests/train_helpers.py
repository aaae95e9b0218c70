"""Running `pcan train` on the synthetic set from tests: the one command line, environment and log reading that
test_train.py and test_calibration.py share (their session fixtures live in conftest.py)."""

import json
import os
import subprocess
import sys
from pathlib import Path

from training.synth import SynthSpec

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "training" / "configs" / "pcan_synth_tiny.py"
SPEC = SynthSpec(num_classes=4, videos_per_class=40, seed=0, val_fraction=0.2)  # 128 train, 32 val


def train_env() -> dict[str, str]:
    # One BLAS thread per process: on 2 shared cores, oversubscribed OpenMP threads are 3-4x slower.
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


def train_command(
    work_dir: Path, data_root: Path, *args: str, launcher: list[str] | None = None, config: Path = CONFIG
) -> list[str]:
    return [
        *(launcher or [sys.executable]),
        "-m",
        "training.cli",
        "train",
        str(config),
        "--work-dir",
        str(work_dir),
        "--data-root",
        str(data_root),
        *args,
    ]


def run_train(work_dir: Path, data_root: Path, *args: str, launcher: list[str] | None = None, timeout: int = 600):
    cmd = train_command(work_dir, data_root, *args, launcher=launcher)
    return subprocess.run(cmd, cwd=ROOT, env=train_env(), capture_output=True, text=True, timeout=timeout)


def tail(proc) -> str:
    return (proc.stdout + proc.stderr)[-3000:]


def val_metrics(work_dir: Path) -> list[dict]:
    """Validation rows of mmengine's scalars.json (LocalVisBackend), in epoch order."""
    (scalars,) = work_dir.glob("*/vis_data/scalars.json")
    rows = [json.loads(line) for line in scalars.read_text().splitlines()]
    return [r for r in rows if "acc/RGBPose_1:1_top1" in r]
