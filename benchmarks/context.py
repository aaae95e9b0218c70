"""What every stage gets: the settings, the environment, the shared weights, the results, the harness
configured once (``time``) and one way to record timings and skips."""

import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from .artifacts import BenchModel
from .records import DEFAULT_STAGES, Results, compare, measured, skipped
from .timing import Contender, Timings, interleave

REPO = Path(__file__).resolve().parents[1]
SAMPLE_DIR = Path(os.environ.get("PCAN_SAMPLE_DIR", REPO.parent / "shared" / "data" / "ntu60_sample"))
SAMPLE_VIDEO = SAMPLE_DIR / "S001C001P001R001A001_rgb.avi"
SAMPLE_SKELETON = SAMPLE_DIR / "S001C001P001R001A001.json"


@dataclass
class Settings:
    preset: str = "ntu60"
    batch_sizes: tuple[int, ...] = (1, 2, 4)
    clips: tuple[int, ...] = (1, 10)  # clips per video in the preprocessing stage
    repeats: int = 10
    warmup: int = 1
    min_repeats: int = 3
    max_seconds: float = 60.0  # per comparison group; stops after min_repeats once spent
    stages: tuple[str, ...] = DEFAULT_STAGES
    device: str = "auto"
    backends: tuple[str, ...] | None = None  # None: the device's default list
    out: Path = REPO / "benchmarks" / "results"
    quick: bool = False
    checkpoint: Path | None = None
    video: Path = SAMPLE_VIDEO
    skeleton: Path = SAMPLE_SKELETON
    concurrencies: tuple[int, ...] = (1, 4, 8)
    seed: int = 0

    @classmethod
    def quick_mode(cls, **overrides: Any) -> "Settings":
        """Tiny preset, batch 1 and 2, one clip, 3 rounds (2 where a round takes seconds: decoding the sample
        does); torch.compile, the ONNX Runtime end-to-end run and HTTP are left out."""
        base = dict(
            preset="tiny", batch_sizes=(1, 2), clips=(1,), repeats=3, min_repeats=2, max_seconds=3.0, quick=True
        )
        return cls(**{**base, **overrides})


@dataclass
class Context:
    settings: Settings
    env: dict[str, Any]
    model: BenchModel
    results: Results
    device: str  # resolved: cpu | cuda
    flops_per_clip: int | None = None
    log: Callable[[str], None] = print

    def time(self, contenders: list[Contender]) -> Timings:
        """The harness with this run's rounds, warm-up and time budget."""
        s = self.settings
        return interleave(contenders, s.repeats, s.warmup, s.max_seconds, s.min_repeats)

    def measured(self, stage: str, samples_ms: list[float], **fields: Any) -> dict[str, Any]:
        """Add (and return) a pcan record of this run's preset from raw samples; ``fields``: as ``records.measured``
        takes them (backend defaults to bentoml, batch to 1: the service stages')."""
        fields = {"backend": "bentoml", "batch": 1, "preset": self.model.preset, **fields}
        rec = measured(stage, "pcan", samples_ms=samples_ms, **fields)
        self.results.add(rec)
        return rec

    def server_env(self, home: str, **extra: str) -> dict[str, str]:
        """The environment of a `pcan serve` this run starts: its own BentoML home in the work folder, no tracking."""
        return {"BENTOML_HOME": str(self.model.workdir / home), "BENTOML_DO_NOT_TRACK": "True", **extra}

    def skip(self, stage: str, reason: str, **fields: Any) -> None:
        self.results.add(skipped(stage, reason, **{"preset": self.model.preset, **fields}))

    def record(
        self, stage: str, t: Timings, fields: Callable[[str], dict[str, Any]], reference: str | None = None
    ) -> dict[str, dict[str, Any]]:
        """One record per contender that ran (``fields(name)``: impl, backend, batch ...), each compared with
        ``reference`` where it ran too, and a failed record per contender that was dropped."""
        recs = {}
        for name, samples in t.samples_ms.items():
            f = {"preset": self.model.preset, "rounds": t.rounds, "first_call_ms": round(t.first_call_ms[name], 3)}
            recs[name] = measured(stage, samples_ms=samples, stopped_by_budget=t.stopped_by_budget, **f, **fields(name))
        for name, rec in recs.items():
            if reference in recs and name != reference:
                compare(rec, recs[reference])
        self.results.add(*recs.values())
        for name, reason in t.failed.items():
            info = {k: v for k, v in fields(name).items() if k in ("impl", "backend", "device", "precision", "batch")}
            self.skip(stage, reason, status="failed", **info)
        return recs

    @cached_property
    def mm_status(self) -> str | None:
        """None when mmaction2's reference can be built here, else why not."""
        try:
            from training.mm_reference import mm_unavailable
        except ImportError as exc:
            return f"mmaction2 reference unavailable ({exc})"
        return mm_unavailable()
