"""A server that cannot load its model ends at once with its reason and a non-zero exit, however it was
started; a healthy one stops promptly on SIGTERM / SIGINT."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
import requests

from benchmarks.local_server import free_port, local_server

SERVICE = "pcan_serve.http.service:PCANService"


@pytest.fixture()
def env(tmp_path):
    env = {**os.environ, "BENTOML_HOME": str(tmp_path / "home"), "BENTOML_DO_NOT_TRACK": "True"}
    for key in ("PCAN_MODEL", "PCAN_MODEL_TAG", "PCAN_BACKEND", "PCAN_PRESET", "PCAN_MODEL_CHECKED"):
        env.pop(key, None)
    return env


@pytest.fixture()
def bad_model(tmp_path):
    path = tmp_path / "broken.pth"
    path.write_bytes(b"this is not a checkpoint")
    return path


def _run(cmd, env, timeout=120):
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)


def test_pcan_serve_refuses_a_model_it_cannot_load(env, bad_model):
    res = _run([sys.executable, "-m", "pcan_serve.cli", "serve", "--checkpoint", str(bad_model)], env)
    assert res.returncode == 2
    assert res.stderr.startswith("error: cannot read broken.pth: not a PyTorch checkpoint")
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_bentoml_serve_exits_when_the_model_cannot_load(env, bad_model):
    """A Bento or a container starts `bentoml serve` itself: the deployment hook checks the model before any
    worker starts and ends the server with the reason."""
    cmd = [sys.executable, "-m", "bentoml", "serve", SERVICE, "--port", str(free_port()), "--host", "127.0.0.1"]
    res = _run(cmd, {**env, "PCAN_MODEL": str(bad_model)})
    assert res.returncode != 0
    assert "pcan: cannot serve the model: cannot read broken.pth" in res.stderr


def test_a_model_that_breaks_after_the_check_is_retried_slowly_while_requests_get_503(env, bad_model, tmp_path):
    """Past the start-up check (as if the file broke afterwards), the model worker fails: it is retried every few
    seconds (not in a tight loop), /readyz says not ready, and a request gets 503 in the JSON shape."""
    port = free_port()
    cmd = [sys.executable, "-m", "bentoml", "serve", SERVICE, "--port", str(port), "--host", "127.0.0.1"]
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        server_env = {**env, "PCAN_MODEL": str(bad_model), "PCAN_MODEL_CHECKED": "1"}
        proc = subprocess.Popen(cmd, env=server_env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while "the model process cannot load its model" not in log.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.5)
        start = time.monotonic()
        ready = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
        assert ready.status_code != 200 and time.monotonic() - start < 1
        res = requests.post(f"http://127.0.0.1:{port}/predict", files={"video": ("v.avi", b"x")}, timeout=30)
        assert res.status_code == 503 and res.json()["error"]["type"] == "ServiceUnavailable"
        time.sleep(8)
        attempts = log.read_text().count("the model process cannot load its model")
        assert 1 <= attempts <= 4, log.read_text()[-3000:]  # one try per RELOAD_WAIT_S (5 s), not a tight loop
        assert proc.poll() is None  # the server stays up and keeps answering
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signals_stop_a_healthy_server(env, sig, tmp_path):
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "pcan_serve.cli",
        "serve",
        "--preset",
        "tiny",
        "--port",
        str(port),
        "--host",
        "127.0.0.1",
    ]
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while not _ready(port):
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "serve.log").read_text()[-3000:]
            time.sleep(0.5)
        start = time.monotonic()
        proc.send_signal(sig)
        proc.wait(timeout=60)
        assert time.monotonic() - start < 10
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as res:
            return res.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory):
    """A server for a client that leaves (deadlines and overload: tests/test_service_overload.py)."""
    home = tmp_path_factory.mktemp("home")
    env = {"BENTOML_HOME": str(home), "BENTOML_DO_NOT_TRACK": "True"}
    with local_server(preset="tiny", device="cpu", env=env, startup_s=300) as url:
        yield url


def test_a_client_that_leaves_mid_upload_is_counted_as_client_closed(slow_server):
    host, port = slow_server.removeprefix("http://").split(":")
    head = (
        f"POST /predict HTTP/1.1\r\nHost: {host}\r\nContent-Type: multipart/form-data; boundary=b\r\n"
        'Content-Length: 1000000\r\n\r\n--b\r\nContent-Disposition: form-data; name="video"; filename="v.avi"\r\n\r\n'
    )
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head.encode() + b"\0" * 50_000)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        metrics = requests.get(f"{slow_server}/metrics", timeout=10).text
        if 'pcan_requests_total{outcome="client_closed"}' in metrics:
            break
        time.sleep(0.5)
    assert re.search(r'pcan_requests_total\{outcome="client_closed"\} [1-9]', metrics), metrics[-2000:]
    assert 'outcome="server_error"' not in metrics
