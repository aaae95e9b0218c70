"""HTTP service latency at several concurrencies, through the service helper's benchmarks.bench_http."""

from .context import Context
from .records import skipped


def run_http(ctx: Context) -> None:
    try:
        from . import bench_http  # noqa: F401
    except ImportError as exc:
        ctx.results.add(
            skipped(
                "http",
                f"HTTP benchmark unavailable (benchmarks.bench_http: {exc})",
                backend="bentoml",
                preset=ctx.model.preset,
            )
        )
        return
    ctx.results.add(
        skipped(
            "http",
            "benchmarks.bench_http has no entry point this runner knows",
            backend="bentoml",
            preset=ctx.model.preset,
        )
    )
