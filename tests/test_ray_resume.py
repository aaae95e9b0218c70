"""An interrupted `pcan predict --executor ray` run, resumed: every item exactly once, rows as the local executor's.
Both runs start their own local Ray (no --ray-address) and must leave no Ray process behind."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from ray_helpers import assert_same_rows, make_corpus, predict, rows

pytestmark = [pytest.mark.timeout(600), pytest.mark.slow]

RAY_DAEMONS = ("raylet", "gcs_server")


def _ray_daemons() -> set[int]:
    return {p.pid for p in psutil.process_iter(["name"]) if p.info["name"] in RAY_DAEMONS}


def _pcan(*args: str) -> subprocess.Popen:
    # No more CPUs than the machine has; a small object store cap so a local Ray asks for little shared memory.
    env = {**os.environ, "RAY_DEFAULT_OBJECT_STORE_MEMORY_PROPORTION": "0.02"}
    cmd = [sys.executable, "-m", "pcan_serve.cli", "predict", *args, "--no-progress"]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _lines(path: Path) -> int:
    return path.read_text().count("\n") if path.exists() else 0


def test_resume_after_an_interrupted_ray_run(tmp_path, tiny_ckpt):
    corpus = make_corpus(tmp_path)
    want = tmp_path / "local.jsonl"
    assert predict(str(corpus), "--checkpoint", str(tiny_ckpt), "-o", str(want), "--batch-size", "1")[0] == 1
    before = _ray_daemons()
    out = tmp_path / "ray.jsonl"
    args = [str(corpus), "--checkpoint", str(tiny_ckpt), "-o", str(out), "--executor", "ray", "--batch-size", "1"]

    first = _pcan(*args)
    deadline = time.monotonic() + 300  # only against a hang
    while _lines(out) < 2 and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    first.send_signal(signal.SIGINT)  # Ctrl-C mid-run
    log = first.communicate(timeout=120)[0]
    interrupted_at = _lines(out)
    assert first.returncode not in (0, 2), log
    assert 2 <= interrupted_at < len(rows(want)), "the run was not interrupted mid-way: nothing was tested"

    second = _pcan(*args, "--resume")
    log = second.communicate(timeout=300)[0]
    assert second.returncode == 1, log  # the corrupt video and the missing skeleton
    assert f"resume: {interrupted_at} items already in" in " ".join(log.split())
    assert_same_rows(rows(out), rows(want))  # every item once, in input order
    assert _ray_daemons() <= before, "a local Ray started by pcan predict was left running"
