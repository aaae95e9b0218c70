"""`pcan bench`: latency of every stage and backend, against mmaction2, written as JSON + Markdown + PNG.

Module-level imports stay light (typer only): ``pcan`` mounts this app at start-up for every command.
Also runnable as ``python -m benchmarks.cli bench ...``.
"""

import time
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(add_completion=False, help="Benchmarks.")


@app.callback()
def _group() -> None:
    """Keeps ``bench`` a named sub-command when this app runs on its own (python -m benchmarks.cli bench)."""


STAGE_NAMES = ("decode", "preprocess", "model", "e2e", "http")


def _ints(text: str, what: str) -> tuple[int, ...]:
    try:
        values = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise typer.BadParameter(f"{what}: expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise typer.BadParameter(f"{what}: expected positive integers, got {text!r}")
    return values


def _names(text: str, known: tuple[str, ...] | None, what: str) -> tuple[str, ...]:
    values = tuple(x.strip() for x in text.split(",") if x.strip())
    unknown = [v for v in values if known is not None and v not in known]
    if not values or unknown:
        raise typer.BadParameter(f"{what}: unknown {unknown or text!r}; choose from {', '.join(known or ())}")
    return values


def _backend_names(text: str) -> tuple[str, ...]:
    from .backends import RUNTIMES

    known = tuple(n + suffix for n in RUNTIMES for suffix in ("", "-fp16"))
    return _names(text, known, "--backends")


@app.command(help="Benchmark decode, preprocessing, model forward per backend, end to end vs mmaction2, HTTP.")
def bench(
    preset: Annotated[str | None, typer.Option(help="ntu60 (default) | tiny.")] = None,
    batch_sizes: Annotated[str | None, typer.Option("--batch-sizes", help="Model batch sizes, e.g. 1,2,4.")] = None,
    repeats: Annotated[int | None, typer.Option(min=1, help="Timed rounds per comparison (default 10).")] = None,
    warmup: Annotated[int | None, typer.Option(min=0, help="Untimed calls per contender first (default 1).")] = None,
    max_seconds: Annotated[
        float | None,
        typer.Option("--max-seconds", help="Time budget per comparison; stops after 3 rounds once spent (default 60)."),
    ] = None,
    quick: Annotated[
        bool,
        typer.Option(
            help="Tiny preset, 3 rounds, batch 1,2, no torch.compile: well under a minute; the HTTP stage is skipped."
        ),
    ] = False,
    out: Annotated[Path | None, typer.Option(help="Output folder (default benchmarks/results).")] = None,
    stages: Annotated[str | None, typer.Option(help=f"Comma-separated subset of {','.join(STAGE_NAMES)}.")] = None,
    device: Annotated[str, typer.Option(help="cpu | cuda | auto (cuda when torch sees a GPU).")] = "auto",
    backends: Annotated[
        str | None,
        typer.Option(
            help="Model backends, e.g. torch-eager,torch-compile,onnxruntime,tensorrt-fp16 (default: per device)."
        ),
    ] = None,
    checkpoint: Annotated[Path | None, typer.Option(help="Weights to use (default: random, seeded).")] = None,
    video: Annotated[Path | None, typer.Option(help="Video (default: the NTU sample).")] = None,
    skeleton: Annotated[Path | None, typer.Option(help="Its skeleton JSON (default: the NTU sample's).")] = None,
    concurrencies: Annotated[str, typer.Option(help="HTTP client concurrencies.")] = "1,4,8",
) -> None:
    from rich.console import Console

    from .context import Settings
    from .runner import run
    from .writer import write_outputs

    err = Console(stderr=True)
    given = {
        "preset": preset,
        "batch_sizes": _ints(batch_sizes, "--batch-sizes") if batch_sizes else None,
        "repeats": repeats,
        "warmup": warmup,
        "max_seconds": max_seconds,
        "out": out,
        "stages": _names(stages, STAGE_NAMES, "--stages") if stages else None,
        "device": device,
        "backends": _backend_names(backends) if backends else None,
        "checkpoint": checkpoint,
        "video": video,
        "skeleton": skeleton,
        "concurrencies": _ints(concurrencies, "--concurrencies"),
    }
    overrides = {k: v for k, v in given.items() if v is not None}
    if preset is not None and preset not in ("ntu60", "tiny"):
        raise typer.BadParameter(f"--preset: expected ntu60 or tiny, got {preset!r}")
    settings = Settings.quick_mode(**overrides) if quick else Settings(**overrides)
    for path in (settings.video, settings.skeleton):
        if not Path(path).is_file():
            err.print(f"[yellow]warning:[/yellow] {path} not found: stages that need the sample are skipped")
    start = time.perf_counter()
    try:
        results = run(settings, log=lambda msg: err.print(f"[dim]{time.perf_counter() - start:6.1f}s {msg}[/dim]"))
    except ValueError as exc:  # a bad --backends / --device
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    files = write_outputs(results, settings.out)
    typer.echo((settings.out / "bench.md").read_text())
    err.print("wrote " + ", ".join(str(p) for p in files))


if __name__ == "__main__":
    app()
