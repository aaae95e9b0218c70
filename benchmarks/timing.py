"""The one timing harness every stage uses: warm-up, then interleaved rounds so machine drift hits every
contender alike; ``concurrent`` for the load of several clients at once (HTTP).

Each round runs every contender once, starting one position later than the round before (A B C, B C A,
C A B, ...), so neither a slow drift in load nor "who ran right after whom" favours one side. Samples
from the same round are paired, which gives a per-round ratio as well as a ratio of medians.
"""

import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Contender:
    """One thing to time. ``setup()`` (untimed) makes the argument of each call, for inputs a call consumes."""

    name: str
    fn: Callable[[Any], Any]
    setup: Callable[[], Any] | None = None


@dataclass
class Timings:
    samples_ms: dict[str, list[float]] = field(default_factory=dict)
    first_call_ms: dict[str, float] = field(default_factory=dict)  # the first warm-up call (compile, caches)
    failed: dict[str, str] = field(default_factory=dict)  # contender -> why it was dropped
    rounds: int = 0
    stopped_by_budget: bool = False


def why(exc: BaseException) -> str:
    """An exception as one short line, for a record's reason."""
    text = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"


def _call_ms(c: Contender) -> float:
    arg = c.setup() if c.setup is not None else None
    start = time.perf_counter()
    c.fn(arg)
    return (time.perf_counter() - start) * 1e3


def interleave(
    contenders: list[Contender], repeats: int, warmup: int = 1, budget_s: float | None = None, min_repeats: int = 3
) -> Timings:
    """Time ``repeats`` rounds (fewer once ``budget_s`` is spent and ``min_repeats`` are done).

    A contender that raises is dropped with the error as its reason; the others go on.
    """
    out = Timings()
    live = []
    for c in contenders:
        try:
            out.first_call_ms[c.name] = _call_ms(c)
            for _ in range(max(0, warmup - 1)):
                _call_ms(c)
        except Exception as exc:  # a backend that cannot run here is a result, not a crash
            out.failed[c.name] = why(exc)
            continue
        live.append(c)
        out.samples_ms[c.name] = []
    start = time.perf_counter()
    for r in range(repeats):
        if not live:
            break
        k = r % len(live)
        for c in live[k:] + live[:k]:
            try:
                out.samples_ms[c.name].append(_call_ms(c))
            except Exception as exc:
                out.failed[c.name] = why(exc)
        live = [c for c in live if c.name not in out.failed]
        out.rounds = r + 1
        if budget_s is not None and out.rounds >= min_repeats and time.perf_counter() - start > budget_s:
            out.stopped_by_budget = out.rounds < repeats
            break
    for name in out.failed:
        out.samples_ms.pop(name, None)
    return out


def concurrent(call: Callable[[], Any], concurrency: int, total: int) -> tuple[list[float], list[str], float]:
    """``total`` calls of ``call`` from ``concurrency`` threads at once: (latency ms of each call that returned,
    the errors of those that raised, wall seconds). Throughput is calls per wall second, not 1/latency."""

    def one(_: int) -> tuple[float, str | None]:
        start = time.perf_counter()
        try:
            call()
        except Exception as exc:
            return 0.0, why(exc)
        return (time.perf_counter() - start) * 1e3, None

    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        done = list(pool.map(one, range(total)))
    return [ms for ms, e in done if e is None], [e for _, e in done if e], time.perf_counter() - start


def summarize(samples_ms: list[float]) -> dict[str, float | int]:
    """median, p95, p99 (linear interpolation; with few samples p99 is close to the max), mean, spread."""
    a = np.asarray(samples_ms, dtype=np.float64)
    return {
        "n": int(a.size),
        "median_ms": round(float(np.median(a)), 3),
        "p95_ms": round(float(np.percentile(a, 95)), 3),
        "p99_ms": round(float(np.percentile(a, 99)), 3),
        "mean_ms": round(float(a.mean()), 3),
        "min_ms": round(float(a.min()), 3),
        "max_ms": round(float(a.max()), 3),
        "std_ms": round(float(a.std(ddof=1)) if a.size > 1 else 0.0, 3),
    }


def paired_speedup(reference_ms: list[float], candidate_ms: list[float]) -> float:
    """Median over rounds of reference/candidate time (> 1: the candidate is faster)."""
    n = min(len(reference_ms), len(candidate_ms))
    return round(statistics.median(r / c for r, c in zip(reference_ms[:n], candidate_ms[:n], strict=True)), 3)
