"""The training summary: what a run produced, in words (``training_summary.md``), as JSON and as curves.

- per epoch, each loss component's mean and each branch's (and late fusion's) val top-1, read from mmengine's
  ``scalars.json`` and drawn in ``training_curves.png``;
- the calibration of the served checkpoint: per-branch temperature, NLL and expected calibration error (15
  bins) before and after, and the val top-1 of each late-fusion candidate, with the weights chosen.
"""

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from pcan_serve.model.scores import fusion_name
from training.calibrate import Calibrated
from training.calibration import ECE_BINS
from training.remediation import BRANCH_METRICS, HEADLINE_METRIC

SUMMARY_MD, SUMMARY_JSON, CURVES_PNG = "training_summary.md", "training_summary.json", "training_curves.png"
LOSSES = ("loss", "loss_rgb", "loss_pose", "loss_align", "loss_fused")
VAL_TOP1 = {**BRANCH_METRICS, "RGBPose_1:1": HEADLINE_METRIC}


def read_curves(work_dir: str | Path) -> dict[str, dict[str, dict[int, float]]]:
    """``{"loss": {name: {epoch: mean}}, "val_top1": {name: {epoch: percent}}}`` from the newest scalars.json."""
    found = sorted(Path(work_dir).glob("*/vis_data/scalars.json"))
    curves: dict[str, dict[str, dict[int, float]]] = {"loss": {}, "val_top1": {}}
    if not found:
        return curves
    sums: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for line in found[-1].read_text().splitlines():
        row = json.loads(line)
        if "epoch" in row:  # a training row (mmengine logs the epoch with them, by_epoch=True)
            for name in LOSSES:
                if name in row:
                    sums[name][int(row["epoch"])].append(float(row[name]))
        else:
            for name, key in VAL_TOP1.items():
                if key in row:  # a validation row: its step is the epoch
                    curves["val_top1"].setdefault(name, {})[int(row["step"])] = 100.0 * float(row[key])
    curves["loss"] = {name: {e: sum(v) / len(v) for e, v in epochs.items()} for name, epochs in sums.items()}
    return curves


def plot_curves(curves: dict[str, dict[str, dict[int, float]]], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    for ax, kind, ylabel in ((ax_loss, "loss", "mean training loss"), (ax_acc, "val_top1", "val top-1 (%)")):
        for name, points in curves[kind].items():
            epochs = sorted(points)
            ax.plot(epochs, [points[e] for e in epochs], marker="o", label=name)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(ylabel)
        if curves[kind]:
            ax.legend(fontsize="small")
        ax.grid(alpha=0.3)
    fig.suptitle("PCAN training: loss components and branch accuracy by epoch")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _calibration_md(c: Calibrated) -> list[str]:
    f = c.fit
    out = [
        f"## Calibration ({f.split}, {f.num_samples} samples)",
        "",
        f"Calibrated checkpoint: `{c.path}` (serve or export this one). Late fusion served: "
        f"**{fusion_name(c.meta.fusion_weights)}** (rgb:pose).",
        "",
        *([f"Warning: {f.caveat}.", ""] if f.caveat else []),
        f"| branch | temperature | NLL before | NLL after | ECE before | ECE after ({ECE_BINS} bins) | top-1 % |",
        "|---|---|---|---|---|---|---|",
    ]
    for b, t in f.temperature.items():
        out.append(
            f"| {b} | {t:.4g} | {f.nll_before[b]:.4f} | {f.nll_after[b]:.4f} | {f.ece_before[b]:.4f} "
            f"| {f.ece_after[b]:.4f} | {100 * f.top1[b]:.2f} |"
        )
    out += ["", "| late fusion (rgb:pose) | val top-1 % (calibrated) |", "|---|---|"]
    out += [f"| {name} | {100 * acc:.2f} |" for name, acc in f.top1.items() if name.startswith("late_")]
    return out + [""]


def write_summary(
    work_dir: str | Path,
    best_checkpoint: Path | None,
    guard_status: str | None,
    calibrated: Calibrated | None,
    note: str | None = None,
) -> Path:
    """Write the summary files and the curves; returns the Markdown file's path."""
    work_dir = Path(work_dir)
    curves = read_curves(work_dir)
    png = plot_curves(curves, work_dir / CURVES_PNG)
    data: dict[str, Any] = {
        "best_checkpoint": str(best_checkpoint) if best_checkpoint else None,
        "guard": guard_status,
        "curves": {k: {n: {str(e): v for e, v in p.items()} for n, p in c.items()} for k, c in curves.items()},
        "curves_png": png.name,
        "calibration": None,
        "calibrated_checkpoint": None,
        "note": note,
    }
    lines = ["# PCAN training summary", "", f"Best checkpoint: `{best_checkpoint}`  ", f"Guard: {guard_status}", ""]
    val = curves["val_top1"]
    if val:
        lines += ["## Val top-1 % by epoch (uncalibrated, as validation logs it)", ""]
        epochs = sorted({e for points in val.values() for e in points})
        lines += ["| epoch | " + " | ".join(val) + " |", "|---" * (len(val) + 1) + "|"]
        for e in epochs:
            lines.append(f"| {e} | " + " | ".join(f"{val[n].get(e, float('nan')):.2f}" for n in val) + " |")
        lines.append("")
    if calibrated is not None:
        data["calibration"] = calibrated.fit.to_dict()
        data["calibrated_checkpoint"] = str(calibrated.path)
        lines += _calibration_md(calibrated)
    if note:
        lines += [note, ""]
    lines += [f"Curves: `{png.name}` (each loss component, each branch's val top-1, by epoch)."]
    (work_dir / SUMMARY_JSON).write_text(json.dumps(data, indent=1))
    path = work_dir / SUMMARY_MD
    path.write_text("\n".join(lines) + "\n")
    return path
