"""Numerical comparison of two runtimes of the same model: max |Δp| per output and top-1 agreement.

A candidate passes when every compared output's max absolute probability difference is within the
tolerance. Top-1 agreement is reported beside it: under that bound a top-1 flip can only happen between
classes whose reference probabilities are within 2·tolerance of each other (a near tie), so it is
information, not a second criterion.
"""

import copy
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from pcan_serve.errors import PCANError
from pcan_serve.model import PCAN, PCANConfig
from pcan_serve.model_io.onnx_session import open_session

from .wrapper import BRANCHES, ProbabilityModel

RunFn = Callable[[np.ndarray, np.ndarray], dict[str, np.ndarray]]

REQUIRED_OUTPUTS = ("rgb", "pose")


class VerificationFailed(PCANError):
    """An exported model disagrees with its reference beyond the tolerance."""


@dataclass(frozen=True)
class Case:
    """One input batch the two runtimes are compared on."""

    name: str
    imgs: np.ndarray
    heatmaps: np.ndarray

    @property
    def batch(self) -> int:
        return int(self.imgs.shape[0])


@dataclass(frozen=True)
class Comparison:
    case: str
    batch: int
    output: str
    max_abs_diff: float
    top1_agreement: float
    tolerance: float

    @property
    def ok(self) -> bool:
        return math.isfinite(self.max_abs_diff) and self.max_abs_diff <= self.tolerance


@dataclass
class VerificationReport:
    reference: str
    candidate: str
    comparisons: list[Comparison] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.comparisons) and all(c.ok for c in self.comparisons)

    @property
    def max_abs_diff(self) -> float:
        return max((c.max_abs_diff for c in self.comparisons), default=math.inf)

    def summary(self) -> str:
        bad = [c for c in self.comparisons if not c.ok]
        if not self.comparisons:
            return f"{self.candidate} vs {self.reference}: nothing was compared"
        if not bad:
            return f"{self.candidate} matches {self.reference}: max |Δp| {self.max_abs_diff:.2e}"
        worst = max(bad, key=lambda c: c.max_abs_diff)
        return (
            f"{self.candidate} disagrees with {self.reference}: {len(bad)} of {len(self.comparisons)} "
            f"checks above tolerance, worst {worst.output} on {worst.case} (batch {worst.batch}): "
            f"max |Δp| {worst.max_abs_diff:.3e} > {worst.tolerance:.0e}"
        )

    def table(self) -> Table:
        table = Table(title=f"{self.candidate} vs {self.reference}")
        for col in ("inputs", "batch", "output", "max |Δp|", "top-1 agree", "tolerance", "result"):
            table.add_column(col, justify="left" if col in ("inputs", "output") else "right", no_wrap=True)
        for c in self.comparisons:
            table.add_row(
                c.case,
                str(c.batch),
                c.output,
                f"{c.max_abs_diff:.2e}",
                f"{c.top1_agreement:.0%}",
                f"{c.tolerance:.0e}",
                "[green]ok[/green]" if c.ok else "[red]FAIL[/red]",
            )
        return table

    def print(self, console: Console) -> None:
        console.print(self.table())
        for note in self.notes:
            console.print(f"  {note}")

    def raise_for_failure(self) -> None:
        if not self.ok:
            raise VerificationFailed(self.summary())


def compare_outputs(
    reference: dict[str, np.ndarray], candidate: dict[str, np.ndarray], case: Case, tolerance: float
) -> list[Comparison]:
    """One :class:`Comparison` per output both sides return; rgb and pose must be in both."""
    out = []
    for key in REQUIRED_OUTPUTS:
        if key not in reference or key not in candidate:
            out.append(Comparison(case.name, case.batch, f"{key} (missing)", math.inf, 0.0, tolerance))
    for key in (b for b in BRANCHES if b in reference and b in candidate):
        ref, cand = np.asarray(reference[key], np.float64), np.asarray(candidate[key], np.float64)
        if ref.shape != cand.shape:
            out.append(
                Comparison(
                    case.name, case.batch, f"{key} (shape {cand.shape} != {ref.shape})", math.inf, 0.0, tolerance
                )
            )
            continue
        diff = float(np.max(np.abs(ref - cand))) if np.isfinite(cand).all() else math.inf
        agree = float(np.mean(ref.argmax(axis=1) == cand.argmax(axis=1)))
        out.append(Comparison(case.name, case.batch, key, diff, agree, tolerance))
    return out


def run_verification(
    reference: RunFn,
    candidate: RunFn,
    cases: Iterable[Case],
    tolerance: float,
    reference_name: str,
    candidate_name: str,
) -> VerificationReport:
    report = VerificationReport(reference_name, candidate_name)
    for case in cases:
        report.comparisons += compare_outputs(
            reference(case.imgs, case.heatmaps), candidate(case.imgs, case.heatmaps), case, tolerance
        )
    return report


def random_case(config: PCANConfig, batch: int, seed: int = 0) -> Case:
    """Normalised-image-like imgs (standard normal) and heatmap-like values in [0, 1)."""
    rng = np.random.default_rng(seed)
    shape_i, shape_h = config.input_shapes(batch)
    return Case("random", rng.standard_normal(shape_i, dtype=np.float32), rng.random(shape_h, dtype=np.float32))


def sample_case(config: PCANConfig, video: Path, skeleton: Path) -> Case:
    """The real clip, preprocessed exactly as serving does (one clip)."""
    from pcan_serve.preprocess import make_inputs  # serving's preprocessing, imported only when used

    inputs = make_inputs(video, skeleton, num_clips=1, config=config.preprocess)
    return Case("sample", np.asarray(inputs["imgs"], np.float32), np.asarray(inputs["heatmaps"], np.float32))


def standard_cases(
    config: PCANConfig, batches: Iterable[int], sample: tuple[Path, Path] | None, report_notes: list[str]
) -> list[Case]:
    """Random inputs at each batch size, plus the real sample when it is available."""
    cases = [random_case(config, b, seed=b) for b in dict.fromkeys(batches)]
    if sample is None:
        report_notes.append("no sample video given or found: verified on random inputs only")
        return cases
    try:
        cases.append(sample_case(config, *sample))
        report_notes.append(f"sample = {Path(sample[0]).name} with {Path(sample[1]).name}")
    except ImportError as exc:
        report_notes.append(f"sample skipped: pcan_serve.preprocess is not importable ({exc})")
    return cases


def at_least(case: Case, batch: int) -> Case:
    """``case`` repeated along the batch axis up to ``batch`` rows (an engine's profile may start above 1)."""
    if case.batch >= batch:
        return case
    reps = -(-batch // case.batch)
    tile = (reps, 1, 1, 1, 1)
    return Case(case.name, np.tile(case.imgs, tile)[:batch], np.tile(case.heatmaps, tile)[:batch])


def torch_runner(
    model: PCAN, dtype: torch.dtype = torch.float64, temperatures: Mapping[str, float] | None = None
) -> RunFn:
    """PyTorch eager on CPU; by default in fp64, the reference an ONNX export is held to. ``temperatures``:
    the calibrated model's (``ModelMeta.temperatures``), applied as in the exported graph.

    Why fp64: two fp32 runtimes each carry their own rounding error, and through 50 layers and the fused
    head's attention those reach ~1e-4 in probability on the full model (measured: PyTorch fp32 vs fp64
    9e-5, ONNX Runtime vs fp64 5e-5, with export.synthetic weights). Against fp64 the check measures the exported
    graph's own error, not the sum of two. ``dtype=torch.float32`` gives the serving path (latency).
    """
    current = next(model.parameters()).dtype
    ref = model if dtype == current else copy.deepcopy(model).to(dtype)
    wrapped = ProbabilityModel(ref, temperatures).eval()

    @torch.inference_mode()
    def run(imgs: np.ndarray, heatmaps: np.ndarray) -> dict[str, np.ndarray]:
        device = next(ref.parameters()).device
        outs = wrapped(torch.from_numpy(imgs).to(device, dtype), torch.from_numpy(heatmaps).to(device, dtype))
        return {b: o.cpu().numpy() for b, o in zip(BRANCHES, outs, strict=True)}

    return run


def ort_runner(path: str | Path, cuda: bool = False) -> RunFn:
    """ONNX Runtime, every output of the graph (fused included); the CPU provider, or CUDA's with ``cuda``."""
    session = open_session(path, 0 if cuda else None)
    names = [o.name for o in session.get_outputs()]

    def run(imgs: np.ndarray, heatmaps: np.ndarray) -> dict[str, np.ndarray]:
        values = session.run(names, {"imgs": imgs, "heatmaps": heatmaps})
        return dict(zip(names, values, strict=True))

    return run
