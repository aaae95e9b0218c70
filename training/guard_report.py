"""Write the guard's findings: a report in words (Markdown), the same as JSON, and ready-to-use overrides.

Files in the work dir::

    guard_report.md        what was checked, what failed, what to change and how to run it
    guard_report.json      the same, for machines (tests, dashboards)
    guard/run_config.py    the run's effective config (the base the overrides inherit from)
    guard/overrides.py     ``_base_ = ["run_config.py"]`` + the remedies: ``pcan train guard/overrides.py``
    guard/cfg_options.txt  the remedies as key=value lines:
                           ``pcan train CONFIG --cfg-options $(cat guard/cfg_options.txt)``
"""

import json
import pprint
import shlex
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .remediation import Finding, Remedy, merge_updates, nest

REPORT_MD, REPORT_JSON, GUARD_DIR = "guard_report.md", "guard_report.json", "guard"


@dataclass
class GuardState:
    """Everything the guard observed in one run."""

    config_file: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    baseline: dict[str, float] | None = None
    gates: dict[str, float] | None = None
    remedy_below: dict[str, float] | None = None
    epochs: list[dict[str, Any]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    remedies: list[Remedy] = field(default_factory=list)
    stopped_at_gate: bool = False

    @property
    def status(self) -> str:
        kinds = {f.kind for f in self.findings}
        if "gate" in kinds:
            return "gate_failed"
        return "collapse" if "collapse" in kinds else "healthy"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status
        return data


def _table(rows: list[list[str]], header: list[str]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(r) + " |" for r in rows]


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _markdown(state: GuardState, work_dir: Path) -> str:
    out = [f"# PCAN guard report: {state.status.replace('_', ' ')}", ""]
    settings = ", ".join(f"{k}={v}" for k, v in state.settings.items())
    out += [f"Config: `{state.config_file}`  ", f"Settings: {settings}", ""]
    out += ["## Baseline (the loaded checkpoint, validated before training)", ""]
    if state.baseline is None:
        out += ["No baseline: nothing was loaded (load_from is None) or validation is off.", ""]
    else:
        out += _table([[b, _fmt(v)] for b, v in state.baseline.items()], ["branch", "top1 %"]) + [""]
    if state.gates is not None:
        out += ["## Epoch-1 gates", ""]
        first = next((e for e in state.epochs if e["epoch"] == 1), None)
        rows = []
        for b, limit in state.gates.items():
            value = first["acc"].get(b) if first else None
            verdict = "-" if value is None else ("pass" if value >= limit else "FAIL")
            below = (state.remedy_below or {}).get(b)
            rows.append([b, _fmt(value), _fmt(limit), _fmt(below), verdict])
        out += _table(rows, ["branch", "top1 %", "gate", "remedy below", "result"]) + [""]
    out += ["## Per epoch", ""]
    rows = []
    for e in state.epochs:
        acc, shares, norms = e["acc"], e.get("loss_share", {}), e.get("grad_norm", {})
        rows.append(
            [str(e["epoch"])]
            + [_fmt(acc.get(k)) for k in ("rgb", "pose", "fused", "RGBPose_1:1")]
            + [", ".join(f"{k} {100 * v:.0f}%" for k, v in shares.items()) or "-"]
            + [", ".join(f"{k} {v:.3g}" for k, v in norms.items()) or "-"]
            + [", ".join(e.get("collapsed", [])) or "-"]
        )
    header = ["epoch", "rgb", "pose", "fused", "RGBPose 1:1", "loss shares", "grad norms", "collapsed"]
    out += _table(rows, header) + [""]
    out += ["## Diagnosis", ""]
    if not state.findings:
        out += ["All checks passed: no gate failed and no branch collapsed.", ""]
    for f in state.findings:
        out.append(f"- {f.describe()}")
    if state.stopped_at_gate:
        out.append("- training was stopped at the failed gate (--stop-on-failed-gate)")
    if state.remedies:
        out += ["", "### Remedies (remediation table)", ""]
        for r in state.remedies:
            out.append(f"- **{r.rule}**: {r.action}" + "".join(f" ({n})" for n in r.notes))
        options = [o for r in state.remedies for o in r.cfg_options]
        out += [
            "",
            "Apply them with either of:",
            "",
            "```",
            f"pcan train {shlex.quote(str(work_dir / GUARD_DIR / 'overrides.py'))}",
            f"pcan train {shlex.quote(state.config_file)} --cfg-options {shlex.join(options)}",
            "```",
            "(the second form adds only the remedies: repeat the original run's own --cfg-options/--data-root)",
        ]
    elif state.findings:
        out += [
            "",
            "No table remedy applies (the branches are below their gates but above the remediation "
            "thresholds): watch the next epochs; if they do not recover, lower the learning rate.",
        ]
    return "\n".join(out) + "\n"


def _overrides_py(state: GuardState, work_dir: Path) -> str:
    lines = [
        "# Written by PCANGuardHook: the remedies for the failed checks in ../guard_report.md.",
        f"# Run it: pcan train {work_dir / GUARD_DIR / 'overrides.py'}",
        "_base_ = ['run_config.py']",
        f"work_dir = {str(work_dir) + '_remedy'!r}",
        "",
    ]
    for r in state.remedies:
        lines.append(f"# {r.rule}: {r.action}")
    for key, value in nest(merge_updates(state.remedies)).items():
        lines.append(f"{key} = {pprint.pformat(value, width=100, sort_dicts=False)}")
    return "\n".join(lines) + "\n"


def write_report(state: GuardState, work_dir: str | Path, run_config_text: str | None) -> None:
    work_dir = Path(work_dir).resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    (work_dir / REPORT_MD).write_text(_markdown(state, work_dir))
    (work_dir / REPORT_JSON).write_text(json.dumps(state.to_json(), indent=1, default=str))
    guard_dir = work_dir / GUARD_DIR
    for name in ("overrides.py", "cfg_options.txt", "run_config.py"):  # stale files would mislead
        (guard_dir / name).unlink(missing_ok=True)
    if not state.remedies:
        return
    guard_dir.mkdir(exist_ok=True)
    if run_config_text is not None:
        (guard_dir / "run_config.py").write_text(run_config_text)
        (guard_dir / "overrides.py").write_text(_overrides_py(state, work_dir))
    options = [o for r in state.remedies for o in r.cfg_options]
    (guard_dir / "cfg_options.txt").write_text("".join(f"{o}\n" for o in options))
