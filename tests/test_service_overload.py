"""The service under load and failure (issue 21), on real `pcan serve` processes with the tiny preset: clip-level
fairness, refusal at once (503 + Retry-After) when work cannot finish in time, one deadline per request (408 for a
stalled upload, 504 with the expired work dropped unrun), bounded skeleton parsing, and the model worker's death."""

import json
import os
import re
import select
import signal
import socket
import threading
import time

import numpy as np
import psutil
import pytest
import requests
from video_fixtures import encode

from benchmarks.local_server import start_server

pytestmark = pytest.mark.slow  # the quick loop (-m 'not slow') leaves it out; make test runs it

FRAMES = 48


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> dict:
    """A small video (MPEG-4, 96x128, 48 frames) and a skeleton of 17 points on it, as upload bytes."""
    path = encode(tmp_path_factory.mktemp("clip") / "clip.avi", "mpeg4", num_frames=FRAMES)
    rng = np.random.default_rng(0)
    kp = rng.uniform([20, 20], [108, 76], (1, FRAMES, 17, 2))
    skeleton = {"keypoint": kp.tolist(), "keypoint_score": np.ones((1, FRAMES, 17)).tolist(), "img_shape": [96, 128]}
    return {"video": ("clip.avi", path.read_bytes()), "skeleton": ("clip.json", json.dumps(skeleton).encode())}


def serve(tmp_path_factory, **settings: str):
    home = tmp_path_factory.mktemp("home")
    env = {"BENTOML_HOME": str(home), "BENTOML_DO_NOT_TRACK": "True", "PCAN_TORCH_THREADS": "1", **settings}
    return start_server(preset="tiny", device="cpu", env=env, startup_s=240, log_path=home / "serve.log")


@pytest.fixture(scope="module")
def roomy(tmp_path_factory):
    """Room for a request of 400 clips, run one clip a forward."""
    with serve(tmp_path_factory, PCAN_MAX_CLIPS="400", PCAN_BATCH_SIZE="1", PCAN_TIMEOUT_S="120") as server:
        yield server


@pytest.fixture(scope="module")
def tight(tmp_path_factory):
    """One request at a time, a 1 s latency budget and a 3 s deadline."""
    settings = dict(PCAN_MAX_QUEUE="1", PCAN_LATENCY_BUDGET_S="1", PCAN_TIMEOUT_S="3", PCAN_MAX_CLIPS="1000")
    with serve(tmp_path_factory, **settings) as server:
        yield server


def post(url: str, clip: dict, timeout: float = 120, **form) -> requests.Response:
    return requests.post(f"{url}/predict", files=clip, data={k: str(v) for k, v in form.items()}, timeout=timeout)


def metric(url: str, name: str, missing: float | None = None, **labels: str) -> float:
    """The value of a series on /metrics (summed over the others' labels); ``missing``: when it is not there yet."""
    text = requests.get(f"{url}/metrics", timeout=10).text
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    found = re.findall(rf"^{name}(?:\{{{want}\}})? (\S+)$", text, re.M)
    assert found or missing is not None, f"{name}{{{want}}} not in /metrics"
    return sum(float(v) for v in found) if found else float(missing)


def model_worker(server_pid: int) -> psutil.Process:
    for proc in psutil.Process(server_pid).children(recursive=True):
        cmd = proc.cmdline()
        if "--service-name" in cmd and cmd[cmd.index("--service-name") + 1] == "pcan-model":
            return proc
    raise AssertionError("no model worker under the server")


def assert_error(res: requests.Response, status: int, kind: str, says: str = "") -> dict:
    assert res.status_code == status, res.text
    error = res.json()["error"]
    assert error["type"] == kind and says in error["message"], error
    return error


def test_a_light_request_is_answered_while_a_heavy_one_runs(roomy, clip):
    heavy: dict = {}
    thread = threading.Thread(target=lambda: heavy.update(res=post(roomy.url, clip, num_clips=400)))
    thread.start()
    deadline = time.monotonic() + 120
    while metric(roomy.url, "pcan_queue_depth", stage="model") < 1:  # the heavy request's clips are at the model
        assert thread.is_alive() and time.monotonic() < deadline, heavy
        time.sleep(0.05)
    batches = metric(roomy.url, "pcan_model_batch_clips_count")
    light = post(roomy.url, clip, num_clips=1)
    ran = metric(roomy.url, "pcan_model_batch_clips_count") - batches
    running = thread.is_alive()
    thread.join()
    assert light.status_code == 200 and heavy["res"].status_code == 200, (light.text, heavy["res"].text)
    assert running, "the heavy request ended before the light one"
    assert ran < 200, f"{ran} batches ran before the light request's answer; the heavy one alone has 400"


def test_an_empty_list_skeleton_is_refused_unparsed(roomy, clip):
    bomb = b'{"keypoint": [' + b"[]," * ((20 * 2**20 - 20) // 3) + b"[]]}"
    res = post(roomy.url, {"video": clip["video"], "skeleton": ("bomb.json", bomb)})
    assert_error(res, 422, "InvalidSkeleton", "more than")


def test_admission_state_is_on_metrics(roomy, clip):
    assert post(roomy.url, clip).status_code == 200
    assert metric(roomy.url, "pcan_model_seconds_per_clip") > 0
    for name, labels in [
        ("pcan_in_flight_requests", {}),
        ("pcan_backlog_seconds", {}),
        ("pcan_model_queue_chunks", {}),
        ("pcan_queue_depth", {"stage": "decode"}),
        ("pcan_queue_depth", {"stage": "model"}),
        *[("pcan_rejections_total", {"reason": r}) for r in ("queue_full", "budget", "model_down")],
    ]:
        assert metric(roomy.url, name, **labels) >= 0


def test_a_stalled_upload_gets_408_and_meanwhile_a_full_server_refuses_at_once(tight, clip):
    host, port = tight.url.removeprefix("http://").split(":")
    head = (
        f"POST /predict HTTP/1.1\r\nHost: {host}\r\nContent-Type: multipart/form-data; boundary=b\r\n"
        'Content-Length: 100000\r\n\r\n--b\r\nContent-Disposition: form-data; name="video"; filename="v.avi"\r\n\r\n'
    )
    with socket.create_connection((host, int(port)), timeout=30) as stalled:
        stalled.sendall(head.encode() + b"\0" * 1000)  # and nothing more
        time.sleep(0.5)
        refused = post(tight.url, clip, timeout=30)
        assert not select.select([stalled], [], [], 0)[0], "the stalled upload was answered before the refusal"
        assert_error(refused, 503, "ServiceUnavailable", "PCAN_MAX_QUEUE")
        assert int(refused.headers["Retry-After"]) >= 1
        answer = b""
        while b"}}" not in answer:
            data = stalled.recv(65536)
            assert data, answer
            answer += data
    head, body = answer.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 408")
    error = json.loads(body)["error"]
    assert error["type"] == "UploadTimeout" and "PCAN_TIMEOUT_S" in error["message"]


def test_a_request_that_cannot_finish_in_the_budget_is_refused_before_the_model_runs(tight, clip):
    batches = metric(tight.url, "pcan_model_batch_clips_count")
    res = post(tight.url, clip, num_clips=1000)
    assert_error(res, 503, "ServiceUnavailable", "PCAN_LATENCY_BUDGET_S")
    assert int(res.headers["Retry-After"]) >= 1
    assert metric(tight.url, "pcan_model_batch_clips_count") == batches
    assert metric(tight.url, "pcan_rejections_total", reason="budget") >= 1


def test_work_past_its_deadline_gets_504_and_never_runs(tight, clip):
    """The model worker is stopped (SIGSTOP) while a request's clip is on its way to it: the request ends at its
    deadline with 504, and once the worker goes on, the expired clip is not computed (the model's batcher drops
    expired chunks that reach it, tests/test_admission.py): the next request's clip is the one batch that runs."""
    worker = model_worker(tight.pid)
    batches = metric(tight.url, "pcan_model_batch_clips_count")
    worker.send_signal(signal.SIGSTOP)
    try:
        res = post(tight.url, clip, timeout=30)
    finally:
        worker.send_signal(signal.SIGCONT)
    assert_error(res, 504, "RequestTimeout", "PCAN_TIMEOUT_S")
    assert post(tight.url, clip, timeout=30).status_code == 200
    assert metric(tight.url, "pcan_model_batch_clips_count") == batches + 1


def test_the_clips_of_a_client_that_left_never_reach_the_model(roomy, clip):
    """A client sends a 400-clip request and leaves once its clips are at the model: at most the chunks already on
    their way are computed; the rest are dropped, and the request is counted as client_closed (499)."""
    host, port = roomy.url.removeprefix("http://").split(":")
    body = requests.Request("POST", f"{roomy.url}/predict", files=clip, data={"num_clips": "400"}).prepare()
    head = f"POST /predict HTTP/1.1\r\nHost: {host}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in body.headers.items())
    closed = metric(roomy.url, "pcan_requests_total", missing=0, outcome="client_closed")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head.encode() + b"\r\n" + body.body)
        deadline = time.monotonic() + 120
        while metric(roomy.url, "pcan_queue_depth", stage="model") < 1:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    left = metric(roomy.url, "pcan_model_batch_clips_count")
    deadline = time.monotonic() + 60
    while metric(roomy.url, "pcan_queue_depth", stage="model") >= 1:
        assert time.monotonic() < deadline, "the request kept its place at the model"
        time.sleep(0.1)
    ran = metric(roomy.url, "pcan_model_batch_clips_count") - left
    assert ran <= 3, f"{ran} batches ran for a client that had left"
    assert metric(roomy.url, "pcan_requests_total", missing=0, outcome="client_closed") == closed + 1


def test_a_killed_model_worker_means_503_then_recovery(roomy, clip):
    """Last on its server: SIGKILL of the model worker. Requests get 503 JSON (never 500) and /readyz says not ready
    within a second while it is down; BentoML restarts it and the service answers 200 again on its own."""
    assert post(roomy.url, clip).status_code == 200
    worker = model_worker(roomy.pid)
    os.kill(worker.pid, signal.SIGKILL)
    res = post(roomy.url, clip, timeout=30)
    assert_error(res, 503, "ServiceUnavailable", "model worker")
    assert int(res.headers["Retry-After"]) >= 1
    assert requests.get(f"{roomy.url}/readyz", timeout=1).status_code == 503
    deadline = time.monotonic() + 180
    while (res := post(roomy.url, clip, timeout=60)).status_code != 200:
        assert_error(res, 503, "ServiceUnavailable")
        assert time.monotonic() < deadline, "the service did not recover"
        time.sleep(1)
    assert model_worker(roomy.pid).pid != worker.pid
    assert requests.get(f"{roomy.url}/readyz", timeout=5).status_code == 200
    assert 'outcome="server_error"' not in requests.get(f"{roomy.url}/metrics", timeout=10).text
