"""Export time, file size, and ONNX Runtime vs PyTorch CPU latency for one clip (median, A/B alternated).

    python -m export.measure --preset ntu60 --runs 7 [--checkpoint C.pth] [--json OUT.json]

Without --checkpoint the preset's weights are randomised (export.synthetic) so the numbers describe the
real graph. Runs alternate A/B then B/A so drift on a shared machine hits both runtimes alike.
"""

import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Annotated

import torch
import typer
from rich.console import Console
from rich.table import Table

from pcan_serve import load_model, save_checkpoint
from pcan_serve.model import build_pcan

from .onnx_export import export_verified_onnx
from .synthetic import randomise_weights
from .verify import ort_runner, random_case, torch_runner

app = typer.Typer(add_completion=False)


def time_ab(runs: dict, imgs, heatmaps, n: int) -> dict[str, list[float]]:
    """Each runner once to warm up, then ``n`` rounds alternating which goes first; milliseconds."""
    names = list(runs)
    times: dict[str, list[float]] = {k: [] for k in names}
    for k in names:
        runs[k](imgs, heatmaps)
    for i in range(n):
        for k in names if i % 2 == 0 else names[::-1]:
            start = time.perf_counter()
            runs[k](imgs, heatmaps)
            times[k].append((time.perf_counter() - start) * 1000)
    return times


@app.command()
def main(
    preset: Annotated[str, typer.Option()] = "ntu60",
    checkpoint: Annotated[Path | None, typer.Option()] = None,
    runs: Annotated[int, typer.Option(min=1)] = 7,
    threads: Annotated[int | None, typer.Option(help="Threads for both runtimes (default: torch's).")] = None,
    json_out: Annotated[Path | None, typer.Option("--json")] = None,
) -> None:
    console = Console()
    threads = threads or torch.get_num_threads()
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as tmp:
        if checkpoint is None:
            checkpoint = save_checkpoint(randomise_weights(build_pcan(preset)), Path(tmp) / f"{preset}.pth")
        result = export_verified_onnx(checkpoint, Path(tmp) / "model.onnx", verify=False)
        model, info = load_model(checkpoint)
        case = random_case(info.config, 1)
        runners = {"torch": torch_runner(model, torch.float32), "onnxruntime": ort_runner(result.path, threads)}
        times = time_ab(runners, case.imgs, case.heatmaps, runs)
    medians = {k: statistics.median(v) for k, v in times.items()}
    table = Table(title=f"pcan-{info.config.name}, one clip, CPU, {threads} threads, median of {runs}")
    for col in ("runtime", "median ms", "min ms", "max ms"):
        table.add_column(col, justify="right")
    for k, v in times.items():
        table.add_row(k, f"{medians[k]:.1f}", f"{min(v):.1f}", f"{max(v):.1f}")
    console.print(table)
    summary = {
        "preset": info.config.name,
        "threads": threads,
        "runs": runs,
        "export_seconds": round(result.export_seconds, 2),
        "onnx_bytes": result.size_bytes,
        "median_ms": {k: round(v, 2) for k, v in medians.items()},
        "samples_ms": {k: [round(x, 2) for x in v] for k, v in times.items()},
        "onnxruntime_speedup": round(medians["torch"] / medians["onnxruntime"], 3),
    }
    console.print(
        f"export {result.export_seconds:.1f} s, ONNX {result.size_bytes / 2**20:.1f} MiB, "
        f"ORT/torch speed-up x{summary['onnxruntime_speedup']}"
    )
    if json_out:
        json_out.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    app()
