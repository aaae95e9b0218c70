"""What every stage gets: the settings, the environment, the shared weights, the results, a logger."""

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from .artifacts import BenchModel
from .records import STAGES, Results

REPO = Path(__file__).resolve().parents[1]
SAMPLE_DIR = Path(os.environ.get("PCAN_SAMPLE_DIR", REPO.parent / "shared" / "data" / "ntu60_sample"))
SAMPLE_VIDEO = SAMPLE_DIR / "S001C001P001R001A001_rgb.avi"
SAMPLE_SKELETON = SAMPLE_DIR / "S001C001P001R001A001.json"


@dataclass
class Settings:
    preset: str = "ntu60"
    batch_sizes: tuple[int, ...] = (1, 2, 4)
    repeats: int = 10
    warmup: int = 1
    min_repeats: int = 3
    max_seconds: float = 60.0  # per comparison group; stops after min_repeats once spent
    stages: tuple[str, ...] = STAGES
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
        """Tiny preset, batch 1 and 2, 3 rounds (2 where a round takes seconds: decoding the sample does);
        torch.compile, the ONNX Runtime end-to-end run and HTTP are left out."""
        base = dict(preset="tiny", batch_sizes=(1, 2), repeats=3, warmup=1, min_repeats=2, max_seconds=3.0, quick=True)
        base.update(overrides)
        return cls(**base)


@dataclass
class Context:
    settings: Settings
    env: dict[str, Any]
    model: BenchModel
    results: Results
    device: str  # resolved: cpu | cuda
    flops_per_clip: int | None = None
    log: Callable[[str], None] = print
    extras: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def mm_status(self) -> str | None:
        """None when mmaction2's reference pipeline can be built here, else why not."""
        from .mmaction_ref import mm_unavailable

        return mm_unavailable()
