"""The result format: one JSON record per measurement (or per skipped measurement, with its reason).

Fields every record has: ``stage`` (decode | preprocess | model | e2e | http), ``impl`` (pcan |
mmaction2), ``backend``, ``device``, ``precision``, ``batch``, ``preset``, ``status`` (ok | skipped |
failed). Measured records add the latency statistics (``median_ms``, ``p95_ms``, ``p99_ms``, ``n``, ...),
``throughput`` (+ ``throughput_unit``) and, where a comparison was made, ``reference`` with ``speedup``
(reference median / this median; > 1 means faster) and ``paired_speedup`` (median of per-round ratios).
"""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .timing import paired_speedup, summarize

SCHEMA_VERSION = 1
STAGES = ("decode", "preprocess", "model", "e2e", "http", "pose", "load", "overload", "executors", "windows")
DEFAULT_STAGES = STAGES[:-4]  # load, overload, executors and windows run only when asked for (--stages load,...)


def label(rec: dict[str, Any]) -> str:
    """A short human name: ``pcan torch-eager cpu fp32``."""
    return " ".join(str(rec[k]) for k in ("impl", "backend", "device", "precision") if rec.get(k))


def measured(
    stage: str,
    impl: str,
    backend: str,
    samples_ms: list[float],
    *,
    batch: int,
    preset: str,
    device: str = "cpu",
    precision: str = "fp32",
    unit: str = "clips/s",
    per_call: int | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A record from raw samples; ``per_call`` items per call give the throughput (default: ``batch``)."""
    stats = summarize(samples_ms)
    items = batch if per_call is None else per_call
    rec: dict[str, Any] = dict(stage=stage, impl=impl, backend=backend, device=device, precision=precision)
    rec.update(batch=batch, preset=preset, status="ok", **stats)
    rec["throughput"] = round(items * 1000.0 / stats["median_ms"], 3) if stats["median_ms"] > 0 else None
    rec["throughput_unit"] = unit
    rec["samples_ms"] = [round(s, 3) for s in samples_ms]
    return {**rec, **extra}


def skipped(stage: str, reason: str, *, status: str = "skipped", **fields: Any) -> dict[str, Any]:
    """A measurement that did not happen here (``skipped``) or broke (``failed``), with the reason."""
    rec: dict[str, Any] = dict(stage=stage, impl="pcan", backend="", device="", precision="", batch=None, preset="")
    return {**rec, **fields, "status": status, "reason": reason}


def compare(rec: dict[str, Any], reference: dict[str, Any]) -> None:
    """Add ``reference``/``speedup``/``paired_speedup`` to ``rec`` (both measured in the same rounds)."""
    rec["reference"] = label(reference)
    rec["speedup"] = round(reference["median_ms"] / rec["median_ms"], 3)
    rec["paired_speedup"] = paired_speedup(reference["samples_ms"], rec["samples_ms"])


@dataclass
class Results:
    meta: dict[str, Any] = field(default_factory=dict)
    records: list[dict[str, Any]] = field(default_factory=list)

    def add(self, *records: dict[str, Any]) -> None:
        self.records.extend(records)

    def ok(self, stage: str | None = None) -> list[dict[str, Any]]:
        return [r for r in self.records if r["status"] == "ok" and (stage is None or r["stage"] == stage)]

    def save(self, path: Path) -> Path:
        data = {"schema_version": SCHEMA_VERSION, "meta": self.meta, "records": self.records}
        path.write_text(json.dumps(data, indent=1, default=str) + "\n")
        return path
