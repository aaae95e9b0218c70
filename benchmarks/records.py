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
STAGES = ("decode", "preprocess", "model", "e2e", "http")


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
    rec: dict[str, Any] = {
        "stage": stage,
        "impl": impl,
        "backend": backend,
        "device": device,
        "precision": precision,
        "batch": batch,
        "preset": preset,
        "status": "ok",
        **stats,
        "throughput": round(items * 1000.0 / stats["median_ms"], 3) if stats["median_ms"] > 0 else None,
        "throughput_unit": unit,
        "samples_ms": [round(s, 3) for s in samples_ms],
    }
    rec.update(extra)
    return rec


def skipped(
    stage: str,
    reason: str,
    *,
    impl: str = "pcan",
    backend: str = "",
    batch: int | None = None,
    preset: str = "",
    device: str = "",
    precision: str = "",
    status: str = "skipped",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "stage": stage,
        "impl": impl,
        "backend": backend,
        "device": device,
        "precision": precision,
        "batch": batch,
        "preset": preset,
        "status": status,
        "reason": reason,
        **extra,
    }


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

    def to_dict(self) -> dict[str, Any]:
        return {"schema_version": SCHEMA_VERSION, "meta": self.meta, "records": self.records}

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=1, default=str) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Results":
        data = json.loads(Path(path).read_text())
        if data.get("schema_version") != SCHEMA_VERSION:
            raise ValueError(f"{path}: benchmark schema {data.get('schema_version')!r}, expected {SCHEMA_VERSION}")
        return cls(data["meta"], data["records"])
