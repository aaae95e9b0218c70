"""A private BentoML model store for a test, filled by `pcan models import` run in a fresh process as a user runs
it."""

import os
import subprocess
import sys
from pathlib import Path


def store_env(home: Path) -> dict[str, str]:
    """This process's environment with the model store at ``home`` and BentoML's usage tracking off."""
    return {**os.environ, "BENTOML_HOME": str(home), "BENTOML_DO_NOT_TRACK": "True"}


def models_import(model: Path, home: Path) -> subprocess.CompletedProcess:
    """``pcan models import MODEL`` into the store at ``home``."""
    return subprocess.run(
        [sys.executable, "-m", "pcan_serve.cli", "models", "import", str(model)],
        env=store_env(home),
        capture_output=True,
        text=True,
        timeout=180,
    )
