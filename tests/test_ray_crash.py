"""`pcan predict --executor ray` with an item that kills the process working on it (as a crash in FFmpeg or the
OOM killer would): after a bounded number of tries it is that item's WorkerCrashed row, and every other item's row
is the local executor's. The crashing stages are test code sent to the Ray workers (tests/ray_helpers.py)."""

import shutil

import pytest
import ray
from ray_helpers import RAY_INIT, CrashingReplica, assert_same_rows, crashing_decode, make_corpus, predict, rows

from pcan_serve.cli import ray_executor
from pcan_serve.preprocess.items import from_videos

pytestmark = [pytest.mark.timeout(600), pytest.mark.slow]


@pytest.fixture(scope="module")
def ray_local():
    ray.init(**RAY_INIT)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("crash_corpus"))


@pytest.fixture(scope="module")
def local_rows(corpus, tiny_ckpt, tmp_path_factory):
    out = tmp_path_factory.mktemp("local") / "local.jsonl"
    assert predict(str(corpus), "--checkpoint", str(tiny_ckpt), "-o", str(out))[0] == 1
    return rows(out)


@pytest.fixture(scope="module")
def manifest(corpus, tmp_path_factory):
    """The corpus's items in their order, with crash.avi (a good video and its sidecar) as the 6th item."""
    folder = tmp_path_factory.mktemp("crash")
    first = sorted(corpus.glob("*.avi"))[0]
    shutil.copy(first, folder / "crash.avi")
    shutil.copy(first.with_suffix(".json"), folder / "crash.json")
    videos = [item.video for item in from_videos([corpus], None)]
    videos.insert(5, str(folder / "crash.avi"))
    path = folder / "manifest.csv"
    path.write_text("video\n" + "".join(f"{v}\n" for v in videos))
    return path


@pytest.fixture
def deaths(manifest):
    """The file in which the crashing stages count the processes crash.avi killed, empty at the start."""
    path = manifest.parent / "crash.deaths"
    path.unlink(missing_ok=True)
    return path


def _count(path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def _run(manifest, tiny_ckpt, out, batch_size: str) -> tuple[list[dict], dict, str]:
    code, output = predict(
        "--manifest", str(manifest), "--checkpoint", str(tiny_ckpt), "-o", str(out), "--executor", "ray",
        "--batch-size", batch_size,
    )  # fmt: skip
    assert code == 1, output
    assert "13 succeeded, 2 failed" in output, output  # the corrupt video and crash.avi
    got = rows(out)
    crashed = got.pop(5)
    assert crashed["video"].endswith("crash.avi") and not crashed["ok"]
    return got, crashed["error"], output


def test_an_item_that_kills_its_decode_worker_is_its_error_row(
    ray_local, manifest, deaths, tiny_ckpt, local_rows, tmp_path, monkeypatch
):
    monkeypatch.setattr(ray_executor, "decode", crashing_decode)
    others, error, _ = _run(manifest, tiny_ckpt, tmp_path / "decode.jsonl", "1")
    assert error["type"] == "WorkerCrashed" and f"each of its {2 * ray_executor.TRIES} tries" in error["message"]
    assert _count(deaths) == 2 * ray_executor.TRIES  # tried, bounded: TRIES in its batch of one, TRIES alone
    assert_same_rows(others, local_rows)  # every other item once, in order, as the local executor answers it


def test_a_replica_killed_by_a_batch_loses_only_the_item_that_kills_it(
    ray_local, manifest, deaths, tiny_ckpt, local_rows, tmp_path, monkeypatch
):
    monkeypatch.setattr(ray_executor, "Replica", CrashingReplica)
    others, error, _ = _run(manifest, tiny_ckpt, tmp_path / "replica.jsonl", "3")  # crash.avi shares a batch
    assert error["type"] == "WorkerCrashed" and f"each of its {2 * ray_executor.TRIES} tries" in error["message"]
    # TRIES alone, and up to TRIES in its batch (a call queued on a replica that died fails without running)
    assert ray_executor.TRIES < _count(deaths) <= 2 * ray_executor.TRIES
    assert_same_rows(others, local_rows)  # its batchmates were answered on their tries alone
