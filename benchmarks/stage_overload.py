"""Overload stage (``--stages overload``, not in the default set): the service past its capacity.

The default server (`pcan serve`, the benchmark's weights, default settings: PCAN_LATENCY_BUDGET_S 30) first
answers one client alone for ``solo_s`` seconds (its capacity, requests/s), then ``clients`` clients send the sample
for ``duration_s`` seconds, each honouring ``Retry-After`` after a 503 (with jitter) as a well-behaved client does;
requests in flight at the end are waited for. Reported: 200s and their p50/p95 latency, 503s and their p95
time-to-refusal, any other status (there must be none), goodput (200s per second, first request to last answer)
against the solo capacity, and the server's peak RSS (all its processes) sampled every 0.5 s.
"""

import random
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .context import Context


@dataclass(frozen=True)
class Answer:
    status: int | str  # an exception name when no HTTP answer came
    seconds: float
    retry_after: float = 0.0


def _post(client: Any, url: str, files: dict[str, tuple[str, bytes]]) -> Answer:
    start = time.perf_counter()
    try:
        res = client.post(f"{url}/predict", files=files)
        status, retry = res.status_code, float(res.headers.get("retry-after", 0) or 0)
    except Exception as exc:  # a dropped connection is an answer too: the wrong one
        status, retry = type(exc).__name__, 0.0
    return Answer(status, time.perf_counter() - start, retry)


def drive(client: Any, url: str, files: dict, clients: int, duration_s: float) -> tuple[list[Answer], float]:
    """``clients`` threads send ``files`` until ``duration_s`` has passed; (answers, seconds to the last one)."""
    answers: list[Answer] = []
    lock = threading.Lock()
    start = time.perf_counter()
    stop = start + duration_s

    def one_client(seed: int) -> None:
        rng = random.Random(seed)
        while time.perf_counter() < stop:
            answer = _post(client, url, files)
            with lock:
                answers.append(answer)
            if answer.status == 503:
                time.sleep(min(answer.retry_after * rng.uniform(0.5, 1.0), max(0.0, stop - time.perf_counter())))

    threads = [threading.Thread(target=one_client, args=(seed,)) for seed in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers, time.perf_counter() - start


class PeakRss:
    """The peak total RSS (MiB) of a process and its children, sampled every 0.5 s while the block runs."""

    def __init__(self, pid: int) -> None:
        import psutil

        self.root, self.peak_mib = psutil.Process(pid), 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        import psutil

        while not self._stop.is_set():
            total = 0
            for proc in [self.root, *self.root.children(recursive=True)]:
                try:
                    total += proc.memory_info().rss
                except psutil.Error:
                    pass
            self.peak_mib = max(self.peak_mib, total / 2**20)
            self._stop.wait(0.5)

    def __enter__(self) -> "PeakRss":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def summary(answers: list[Answer], wall_s: float, solo_rps: float) -> dict[str, Any]:
    """The figures the stage reports from the answers of one run."""
    ok = [a.seconds for a in answers if a.status == 200]
    refused = [a.seconds for a in answers if a.status == 503]
    other: dict[str, int] = {}
    for a in answers:
        if a.status not in (200, 503):
            other[str(a.status)] = other.get(str(a.status), 0) + 1
    goodput = len(ok) / wall_s if wall_s > 0 else 0.0

    return dict(
        ok=len(ok),
        ok_p50_s=round(float(np.median(ok)), 2) if ok else None,
        ok_p95_s=round(float(np.percentile(ok, 95)), 2) if ok else None,
        refused=len(refused),
        refused_p95_ms=round(float(np.percentile(refused, 95)) * 1000, 1) if refused else None,
        other_statuses=other,
        goodput_rps=round(goodput, 4),
        solo_rps=round(solo_rps, 4),
        goodput_vs_solo=round(goodput / solo_rps, 3) if solo_rps else None,
        wall_s=round(wall_s, 1),
    )


def run(ctx: Context, clients: int = 32, duration_s: float = 60.0, solo_s: float = 45.0) -> None:
    import httpx

    from benchmarks.local_server import start_server

    from .env import loadavg

    s = ctx.settings
    files = {"video": (Path(s.video).name, Path(s.video).read_bytes())}
    files["skeleton"] = (Path(s.skeleton).name, Path(s.skeleton).read_bytes())
    env = ctx.server_env("bentoml-overload")
    log = ctx.model.workdir / "overload.log"
    server = start_server(checkpoint=ctx.model.checkpoint, device=ctx.device, env=env, log_path=log)
    with server as srv, httpx.Client(timeout=300, limits=httpx.Limits(max_connections=clients * 2)) as client:
        _post(client, srv.url, files)  # warm-up
        ctx.log(f"overload: one client for {solo_s:g} s")
        solo, solo_wall = drive(client, srv.url, files, 1, solo_s)
        solo_rps = sum(a.status == 200 for a in solo) / solo_wall
        load_start = loadavg()
        ctx.log(f"overload: {clients} clients for {duration_s:g} s (solo: {solo_rps:.3f} requests/s)")
        with PeakRss(srv.pid) as rss:
            answers, wall_s = drive(client, srv.url, files, clients, duration_s)
    figures = summary(answers, wall_s, solo_rps)
    figures.update(peak_rss_mib=round(rss.peak_mib, 1), loadavg=[load_start, loadavg()], duration_s=duration_s)
    latency = [a.seconds * 1000 for a in answers if a.status == 200] or [0.0]
    rec = ctx.measured("overload", latency, device=ctx.device, unit="requests/s", concurrency=clients, **figures)
    rec["throughput"] = figures["goodput_rps"]
