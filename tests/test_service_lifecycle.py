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

from pcan_serve.http.launch import free_port, local_server

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
    assert "cannot serve the model" in res.stderr and "broken.pth" in res.stderr


def test_bentoml_serve_exits_when_the_model_cannot_load(env, bad_model):
    cmd = [sys.executable, "-m", "bentoml", "serve", SERVICE, "--port", str(free_port()), "--host", "127.0.0.1"]
    res = _run(cmd, {**env, "PCAN_MODEL": str(bad_model)})
    assert res.returncode == 1
    assert "pcan: cannot serve the model" in res.stderr and "broken.pth" in res.stderr


def test_a_model_process_that_fails_stops_the_server_instead_of_restarting(env, bad_model):
    """Past the start-up check (as if the file broke afterwards), the model worker fails: the server ends."""
    cmd = [sys.executable, "-m", "bentoml", "serve", SERVICE, "--port", str(free_port()), "--host", "127.0.0.1"]
    res = _run(cmd, {**env, "PCAN_MODEL": str(bad_model), "PCAN_MODEL_CHECKED": "1"})
    assert res.returncode == 1
    assert "the model process cannot load its model" in res.stderr and "stopping the server" in res.stderr
    assert res.stderr.count("Initializing service error") <= 1  # no restart loop


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
