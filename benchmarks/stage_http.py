"""HTTP service latency at several client concurrencies: a real `pcan serve` (BentoML) on a free localhost
port with the benchmark checkpoint, driven by the service's own benchmark client (benchmarks.bench_http).

Each concurrency level sends ``max(repeats, 2 x concurrency)`` requests of the sample video, after
warm-up requests; latency is per request, throughput is completed requests per second of wall time.
"""

from .context import Context
from .records import measured, skipped


def run_http(ctx: Context) -> None:
    s, preset = ctx.settings, ctx.model.preset
    if s.quick:
        ctx.results.add(
            skipped(
                "http",
                "not run in --quick (starting the BentoML server takes longer than the whole quick run)",
                backend="bentoml",
                preset=preset,
            )
        )
        return
    try:
        from . import bench_http
    except ImportError as exc:
        ctx.results.add(skipped("http", f"HTTP benchmark unavailable ({exc})", backend="bentoml", preset=preset))
        return
    log_path = ctx.model.workdir / "serve.log"
    ctx.log(f"http: starting pcan serve ({preset}, {ctx.device}); log {log_path}")
    env = {"BENTOML_HOME": str(ctx.model.workdir / "bentoml"), "BENTOML_DO_NOT_TRACK": "True"}
    server = bench_http.local_server(checkpoint=ctx.model.checkpoint, device=ctx.device, env=env, log_path=log_path)
    with server as url:
        for i, concurrency in enumerate(s.concurrencies):
            total = max(s.repeats, 2 * concurrency)
            ctx.log(f"http: {total} requests from {concurrency} clients")
            stats = bench_http.run(
                url, s.video, s.skeleton, concurrency=concurrency, total=total, warmup=max(1, s.warmup) + (i == 0)
            )
            if not stats["samples_ms"]:
                reason = f"every request failed: {stats['error_samples']}"
                ctx.results.add(
                    skipped("http", reason, backend="bentoml", status="failed", preset=preset, concurrency=concurrency)
                )
                continue
            rec = measured(
                "http",
                "pcan",
                "bentoml",
                stats["samples_ms"],
                batch=1,
                preset=preset,
                device=ctx.device,
                unit="requests/s",
                concurrency=concurrency,
                errors=stats["errors"],
                error_samples=stats["error_samples"],
                wall_s=stats["wall_s"],
            )
            rec["throughput"] = stats["throughput_rps"]  # completed requests per second of wall time
            ctx.results.add(rec)
