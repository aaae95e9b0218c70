"""HTTP stage: a real `pcan serve` (BentoML, ``benchmarks.local_server.local_server``) on a free localhost
port with the benchmark checkpoint, ``POST /predict`` of the sample video from several clients at once.

Each concurrency level sends ``max(repeats, 2 x concurrency)`` requests after warm-up requests; latency is
per request (every request must return 200; a failure is counted in ``errors`` and left out of the
latencies), throughput is completed requests per second of wall time.
"""

from collections.abc import Callable
from pathlib import Path
from typing import Any

from .context import Context
from .timing import concurrent


def poster(client: Any, url: str, video: Path, skeleton: Path, top_k: int = 5) -> Callable[[], None]:
    """One ``POST /predict`` of the video + skeleton per call (``client``: an httpx.Client, thread-safe);
    raises unless the answer is 200."""
    files = {"video": (video.name, video.read_bytes()), "skeleton": (skeleton.name, skeleton.read_bytes())}
    form = {"top_k": str(top_k), "num_clips": "1"}

    def post() -> None:
        res = client.post(f"{url}/predict", files=files, data=form)
        if res.status_code != 200:
            raise RuntimeError(f"HTTP {res.status_code}: {res.text[:200]}")

    return post


def run(ctx: Context) -> None:
    s = ctx.settings
    import httpx

    from benchmarks.local_server import local_server

    log_path = ctx.model.workdir / "serve.log"
    ctx.log(f"http: starting pcan serve ({ctx.model.preset}, {ctx.device}); log {log_path}")
    env = ctx.server_env("bentoml")
    server = local_server(checkpoint=ctx.model.checkpoint, device=ctx.device, env=env, log_path=log_path)
    with server as url, httpx.Client(timeout=300, limits=httpx.Limits(max_connections=64)) as client:
        post = poster(client, url, Path(s.video), Path(s.skeleton))
        for i, concurrency in enumerate(s.concurrencies):
            for _ in range(max(1, s.warmup) + (i == 0)):  # the first level also warms the server up
                post()
            total = max(s.repeats, 2 * concurrency)
            ctx.log(f"http: {total} requests from {concurrency} clients")
            samples, errors, wall_s = concurrent(post, concurrency, total)
            info = dict(backend="bentoml", device=ctx.device, batch=1, concurrency=concurrency)
            if not samples:
                ctx.skip("http", f"every request failed: {errors[:3]}", status="failed", **info)
                continue
            extra = dict(errors=len(errors), error_samples=errors[:3], wall_s=round(wall_s, 2), **info)
            rec = ctx.measured("http", samples, unit="requests/s", **extra)
            rec["throughput"] = round(len(samples) / wall_s, 3)  # completed requests per second of wall time
