"""Start `pcan serve` on a free localhost port for the length of a ``with`` block (benchmarks and tests; not part
of the service, so not in the Bento)."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Server:
    url: str
    pid: int  # BentoML's arbiter (`pcan serve` execs it); the API and model workers are its children


@contextlib.contextmanager
def local_server(*args: Any, **kwargs: Any) -> Iterator[str]:
    """`pcan serve` on 127.0.0.1:<free port> until the block ends; yields its base URL once /readyz is 200."""
    with start_server(*args, **kwargs) as server:
        yield server.url


@contextlib.contextmanager
def start_server(
    checkpoint: str | Path | None = None,
    onnx: str | Path | None = None,
    engine: str | Path | None = None,
    preset: str | None = None,
    device: str | None = None,
    env: dict[str, str] | None = None,
    extra_args: list[str] | None = None,
    startup_s: float = 300,
    log_path: str | Path | None = None,
) -> Iterator[Server]:
    """Like :func:`local_server`, yielding the URL and the server's process id."""
    port = free_port()
    cmd = [sys.executable, "-m", "pcan_serve.cli", "serve", "--port", str(port), "--host", "127.0.0.1"]
    for flag, value in (
        ("--checkpoint", checkpoint),
        ("--onnx", onnx),
        ("--engine", engine),
        ("--preset", preset),
        ("--device", device),
    ):
        if value is not None:
            cmd += [flag, str(value)]
    cmd += extra_args or []
    log = Path(log_path) if log_path else Path(tempfile.mkstemp(prefix="pcan-serve-", suffix=".log")[1])
    with log.open("w") as out:
        proc = subprocess.Popen(
            cmd, env={**os.environ, **(env or {})}, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + startup_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
            try:
                with urllib.request.urlopen(f"{url}/readyz", timeout=10) as res:
                    if res.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server not ready after {startup_s:g}s:\n{log.read_text()[-4000:]}")
            time.sleep(0.5)
        yield Server(url, proc.pid)
    finally:
        proc.terminate()  # `pcan serve` execs bentoml, whose arbiter stops its workers on SIGTERM
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
