"""How far an int8 model's answers move from its fp32 source, on real clips: per output, on how many clips the
top-1 class is the same, and the largest probability change.

An int8 graph cannot meet the 1e-4 probability bound of an fp32 export (rounding every activation to 8 bits moves
a probability by around 1e-2), so it is held to what a user sees: the same top-1 class. The largest change is
reported beside it as information.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from rich.console import Console
from rich.table import Table

from pcan_serve.model.scores import LATE, with_late_fusion

from .verify import Case, RunFn, VerificationFailed


@dataclass(frozen=True)
class Agreement:
    output: str
    clips: int
    top1_equal: int
    max_abs_diff: float

    @property
    def rate(self) -> float:
        return self.top1_equal / self.clips if self.clips else 0.0


@dataclass
class AgreementReport:
    reference: str
    candidate: str
    min_rate: float
    rows: list[Agreement] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.rows) and all(r.rate >= self.min_rate for r in self.rows)

    @property
    def max_abs_diff(self) -> float:
        return max(r.max_abs_diff for r in self.rows)

    def summary(self) -> str:
        worst = min(self.rows, key=lambda r: r.rate)
        verdict = "agrees with" if self.ok else "disagrees with"
        return (
            f"{self.candidate} {verdict} {self.reference}: top-1 equal on {worst.top1_equal} of {worst.clips} clips "
            f"({worst.output}, the least; required {self.min_rate:.0%}), max |Δp| {self.max_abs_diff:.2e}"
        )

    def print(self, console: Console) -> None:
        table = Table(title=f"{self.candidate} vs {self.reference} (real clips)")
        for col in ("output", "clips", "top-1 equal", "max |Δp|", "result"):
            table.add_column(col, justify="left" if col == "output" else "right", no_wrap=True)
        for r in self.rows:
            ok = "[green]ok[/green]" if r.rate >= self.min_rate else "[red]FAIL[/red]"
            table.add_row(r.output, str(r.clips), f"{r.top1_equal} ({r.rate:.0%})", f"{r.max_abs_diff:.2e}", ok)
        console.print(table)

    def raise_for_failure(self) -> None:
        if not self.ok:
            raise VerificationFailed(self.summary())


def measure_agreement(
    reference: RunFn,
    candidate: RunFn,
    cases: Iterable[Case],
    outputs: Sequence[str],
    fusion_weights: tuple[float, float],
    names: tuple[str, str],
    min_rate: float,
) -> AgreementReport:
    """Both runtimes on every clip of ``cases``; ``outputs``: the graph's outputs to judge (a fused head that was
    never trained answers at random and is left out by the caller), plus the late fusion of rgb and pose."""
    cases = list(cases)
    if not cases:
        raise ValueError("agreement needs at least one clip")
    seen: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {k: [] for k in (*outputs, LATE)}
    for case in cases:
        ref, cand = (with_late_fusion(run(case.imgs, case.heatmaps), fusion_weights) for run in (reference, candidate))
        for key in seen:
            seen[key].append((np.asarray(ref[key], np.float64), np.asarray(cand[key], np.float64)))
    report = AgreementReport(*names, min_rate)
    for key, pairs in seen.items():
        ref, cand = (np.concatenate(side) for side in zip(*pairs, strict=True))
        equal = int((ref.argmax(1) == cand.argmax(1)).sum())
        report.rows.append(Agreement(key, len(ref), equal, float(np.abs(ref - cand).max())))
    return report
