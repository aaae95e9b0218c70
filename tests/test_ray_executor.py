"""`pcan predict --executor ray` on a local Ray: the local executor's rows, also across windows, shards and a
replica killed mid-run; requests that cannot fit the cluster are usage errors."""

import os
import signal
import threading
import time

import psutil
import pytest
import ray
from ray_helpers import RAY_INIT, assert_same_rows, make_corpus, predict, rows

from pcan_serve.cli.ray_executor import RayRun, driver_frontend
from pcan_serve.model_io import ModelSource
from pcan_serve.preprocess.items import from_videos
from pcan_serve.runtime import PredictOptions

pytestmark = [pytest.mark.timeout(600), pytest.mark.slow]


@pytest.fixture(scope="module")
def ray_local():
    """One small Ray for the module; `pcan predict` joins it instead of starting its own."""
    ray.init(**RAY_INIT)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("ray_corpus"))


@pytest.fixture(scope="module")
def local_rows(corpus, tiny_ckpt, tmp_path_factory):
    out = tmp_path_factory.mktemp("local") / "local.jsonl"
    code, output = predict(str(corpus), "--checkpoint", str(tiny_ckpt), "-o", str(out), "--batch-size", "4")
    assert code == 1, output  # the corrupt video
    return rows(out)


def test_corpus_has_good_and_bad_items(local_rows):
    errors = {r["video"].rsplit("/", 1)[-1]: r["error"]["type"] for r in local_rows if not r["ok"]}
    assert errors == {"corrupt.avi": "InvalidVideo"}
    estimated = [r for r in local_rows if r["ok"] and r["skeleton"]["source"] == "estimated"]
    assert [r["video"].rsplit("/", 1)[-1] for r in estimated] == ["noskel.avi"]  # no sidecar: estimated
    assert sum(r["ok"] for r in local_rows) == 13


@pytest.mark.parametrize("batch_size", ["1", "3"])
def test_rows_equal_the_local_executor(ray_local, corpus, tiny_ckpt, local_rows, tmp_path, batch_size):
    out = tmp_path / "ray.jsonl"
    code, output = predict(
        str(corpus), "--checkpoint", str(tiny_ckpt), "-o", str(out), "--executor", "ray", "--batch-size", batch_size
    )
    assert code == 1, output
    assert "13 succeeded, 1 failed" in output  # the corrupt video
    assert_same_rows(rows(out), local_rows)


def test_shard_keeps_its_meaning(ray_local, corpus, tiny_ckpt, local_rows, tmp_path):
    out = tmp_path / "shard.jsonl"
    code, output = predict(
        str(corpus), "--checkpoint", str(tiny_ckpt), "-o", str(out), "--executor", "ray", "--shard", "1/3"
    )
    assert code in (0, 1), output
    assert_same_rows(rows(out), local_rows[1::3])


def test_windows_restore_the_order_across_datasets(ray_local, corpus, tiny_ckpt, local_rows):
    source = ModelSource.file(tiny_ckpt)
    frontend = driver_frontend(source)
    job = RayRun.start(frontend, source, "cpu", None, None, None)
    got = []
    try:  # a one-pass iterator: the run reads its items one window at a time, never by index or length
        items = iter(from_videos([corpus], None))
        job.run(items, got.append, frontend.check(PredictOptions()), batch_size=2, window=5)
    finally:
        job.close()
    assert not job.owns  # joined the module's Ray: leaves it running
    assert_same_rows([r.to_dict() for r in got], local_rows)


def _replica_processes() -> list[psutil.Process]:
    """Ray names an actor's process after its operator; decoding must not have been fused into the replicas."""
    found = []
    for p in psutil.process_iter(["cmdline"]):
        title = " ".join(p.info["cmdline"] or [])
        if title.startswith("ray::") and "Replica" in title:
            assert "MapBatches(Replica)" in title and "decode" not in title, title
            found.append(p)
    return found


def test_a_killed_replica_loses_nothing_and_repeats_nothing(ray_local, corpus, tiny_ckpt, local_rows, tmp_path):
    out = tmp_path / "killed.jsonl"
    args = [str(corpus), "--checkpoint", str(tiny_ckpt), "-o", str(out), "--executor", "ray", "--batch-size", "1"]
    result = {}
    run = threading.Thread(target=lambda: result.update(zip(("code", "output"), predict(*args), strict=True)))
    run.start()
    deadline = time.monotonic() + 300  # only against a hang; the assertions below do not depend on timing
    while not (out.exists() and out.read_text().count("\n") >= 1) and run.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    replicas = _replica_processes()
    written_at_kill = out.read_text().count("\n") if out.exists() else 0
    for p in replicas:
        os.kill(p.pid, signal.SIGKILL)
    run.join()
    assert replicas, "no replica process found to kill"
    assert written_at_kill < len(local_rows), "the run had finished before the kill: nothing was tested"
    assert result["code"] == 1, result["output"]
    assert_same_rows(rows(out), local_rows)  # every item once, in order, equal to the local executor's


def test_requests_that_cannot_fit_are_usage_errors(ray_local, corpus, tiny_ckpt, tmp_path):
    out = tmp_path / "never.jsonl"
    base = [str(corpus), "--checkpoint", str(tiny_ckpt), "-o", str(out)]
    code, output = predict(*base, "--executor", "ray", "--num-replicas", "2")  # 2 replicas + a decode task > 2 CPUs
    assert code == 2 and "would wait forever" in " ".join(output.split())
    code, output = predict(*base, "--executor", "ray", "--device", "cuda")
    assert code == 2 and "has no GPU" in output
    code, output = predict(*base, "--num-replicas", "1")
    assert code == 2 and "need --executor ray" in output
    assert not out.exists()
