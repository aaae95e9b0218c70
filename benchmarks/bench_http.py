"""HTTP benchmark of POST /predict: latency percentiles and throughput at several client concurrencies.

Against a running server (``--url``) or one it starts itself (``local_server``: `pcan serve` on a free
localhost port, stopped afterwards). Library use (e.g. `pcan bench`)::

    with local_server(checkpoint="tiny.pth") as url:
        stats = run(url, video, skeleton, concurrency=8, total=80)   # {"p50_ms", "p95_ms", "throughput_rps", ...}

Command line::

    python benchmarks/bench_http.py --preset tiny --video V.avi --skeleton V.json --concurrency 1,8 --requests 40
"""

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import requests


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def local_server(
    checkpoint: str | Path | None = None,
    onnx: str | Path | None = None,
    engine: str | Path | None = None,
    preset: str | None = None,
    device: str | None = None,
    env: dict[str, str] | None = None,
    extra_args: list[str] | None = None,
    startup_s: float = 300,
    log_path: str | Path | None = None,
) -> Iterator[str]:
    """`pcan serve` on 127.0.0.1:<free port> until the block ends; yields its base URL once /readyz is 200."""
    port = free_port()
    cmd = [sys.executable, "-m", "pcan_serve.serve_cli", "serve", "--port", str(port), "--host", "127.0.0.1"]
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
                if requests.get(f"{url}/readyz", timeout=10).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server not ready after {startup_s:g}s:\n{log.read_text()[-4000:]}")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()  # `pcan serve` execs bentoml, whose arbiter stops its workers on SIGTERM
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def run(
    url: str,
    video: str | Path,
    skeleton: str | Path,
    concurrency: int,
    total: int,
    warmup: int = 2,
    top_k: int = 5,
    num_clips: int = 1,
    timeout: float = 300,
) -> dict[str, Any]:
    """``total`` requests from ``concurrency`` clients (after ``warmup`` unmeasured ones); every request must
    return 200, a failure is counted in ``errors`` and left out of the latencies."""
    files = {
        "video": (Path(video).name, Path(video).read_bytes()),
        "skeleton": (Path(skeleton).name, Path(skeleton).read_bytes()),
    }
    form = {"top_k": str(top_k), "num_clips": str(num_clips)}
    with requests.Session() as session:
        for _ in range(warmup):
            session.post(f"{url}/predict", files=files, data=form, timeout=timeout).raise_for_status()
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    remaining = iter(range(total))

    def client() -> None:
        with requests.Session() as session:
            while True:
                with lock:
                    if next(remaining, None) is None:
                        return
                start = time.perf_counter()
                try:
                    res = session.post(f"{url}/predict", files=files, data=form, timeout=timeout)
                    ok, detail = res.status_code == 200, res.text[:200]
                except requests.RequestException as exc:
                    ok, detail = False, repr(exc)
                elapsed = (time.perf_counter() - start) * 1000
                with lock:
                    if ok:
                        latencies.append(elapsed)
                    else:
                        errors.append(detail)

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    lat = np.array(latencies) if latencies else np.array([np.nan])
    return {
        "concurrency": concurrency,
        "n": len(latencies),
        "errors": len(errors),
        "error_samples": errors[:3],
        "p50_ms": round(float(np.percentile(lat, 50)), 2),
        "p95_ms": round(float(np.percentile(lat, 95)), 2),
        "p99_ms": round(float(np.percentile(lat, 99)), 2),
        "mean_ms": round(float(lat.mean()), 2),
        "throughput_rps": round(len(latencies) / wall, 3),
        "wall_s": round(wall, 2),
        "samples_ms": [round(x, 2) for x in latencies],
        "top_k": top_k,
        "num_clips": num_clips,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", help="A running server; default: start one with the model options below.")
    ap.add_argument("--checkpoint")
    ap.add_argument("--onnx")
    ap.add_argument("--engine")
    ap.add_argument("--preset", help="ntu60 | tiny (alone: untrained weights)")
    ap.add_argument("--device")
    ap.add_argument("--video", required=True)
    ap.add_argument("--skeleton", required=True)
    ap.add_argument("--concurrency", default="1,8", help="comma-separated client counts")
    ap.add_argument("--requests", type=int, default=40, help="measured requests per concurrency")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--num-clips", type=int, default=1)
    ap.add_argument("--output", help="write the results as JSON here")
    args = ap.parse_args(argv)
    levels = [int(c) for c in args.concurrency.split(",")]
    with contextlib.ExitStack() as stack:
        url = args.url or stack.enter_context(
            local_server(args.checkpoint, args.onnx, args.engine, args.preset, args.device)
        )
        results = [
            run(
                url,
                args.video,
                args.skeleton,
                c,
                args.requests,
                warmup=args.warmup if i == 0 else 1,
                num_clips=args.num_clips,
            )
            for i, c in enumerate(levels)
        ]
    print("| concurrency | requests | errors | p50 ms | p95 ms | throughput req/s |")
    print("|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['concurrency']} | {r['n']} | {r['errors']} | {r['p50_ms']} | {r['p95_ms']} | {r['throughput_rps']} |"
        )
    if args.output:
        Path(args.output).write_text(json.dumps({"url": args.url, "results": results}, indent=1))
    return 1 if any(r["errors"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
