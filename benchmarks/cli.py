"""`pcan bench`: the one entry point of every benchmark (decode, preprocessing, model forward per backend,
end to end against mmaction2, HTTP; CPU or CUDA), written as JSON + Markdown + PNG.

Module-level imports stay light (typer only): ``pcan`` mounts this app at start-up for every command.
"""

import time
from pathlib import Path
from typing import Annotated

import typer

from pcan_serve.cli.errors import UsageError, stop

from .records import STAGES

app = typer.Typer(add_completion=False, help="Benchmarks.")
Opt = typer.Option


@app.callback()
def _group() -> None:
    """Keeps ``bench`` a named sub-command when this app is invoked on its own (tests)."""


def _ints(text: str, what: str) -> tuple[int, ...]:
    items = [x.strip() for x in text.split(",") if x.strip()]
    if not items or not all(x.isascii() and x.isdigit() and int(x) >= 1 for x in items):
        raise UsageError(f"{what}: expected comma-separated positive integers, got {text!r}")
    return tuple(int(x) for x in items)


def _names(text: str, known: tuple[str, ...], what: str) -> tuple[str, ...]:
    values = tuple(x.strip() for x in text.split(",") if x.strip())
    unknown = [v for v in values if v not in known]
    if not values or unknown:
        raise UsageError(f"{what}: unknown {unknown or text!r}; choose from {', '.join(known)}")
    return values


@app.command(help="Benchmark decode, preprocessing, model forward per backend, end to end vs mmaction2, HTTP, pose.")
def bench(
    preset: Annotated[str | None, Opt(help="ntu60 (default) | tiny.")] = None,
    batch_sizes: Annotated[str | None, Opt("--batch-sizes", help="Model batch sizes, e.g. 1,2,4.")] = None,
    clips: Annotated[str | None, Opt(help="Clips per video in the preprocessing stage (default 1,10).")] = None,
    repeats: Annotated[int | None, Opt(min=1, help="Timed rounds per comparison (default 10).")] = None,
    warmup: Annotated[int | None, Opt(min=0, help="Untimed calls per contender first (default 1).")] = None,
    max_seconds: Annotated[
        float | None, Opt(help="Budget per comparison: stops after 3 rounds once spent (60).")
    ] = None,
    quick: Annotated[bool, Opt(help="Tiny preset, 3 rounds, batch 1,2, 1 clip, no torch.compile/HTTP.")] = False,
    out: Annotated[Path | None, Opt(help="Output folder (default benchmarks/results).")] = None,
    stages: Annotated[str | None, Opt(help=f"Comma-separated subset of {','.join(STAGES)}.")] = None,
    device: Annotated[str, Opt(help="cpu | cuda | auto (cuda when torch sees a GPU).")] = "auto",
    backends: Annotated[
        str | None, Opt(help="Model backends, e.g. torch-eager,torch-eager-tf32,tensorrt-fp16.")
    ] = None,
    checkpoint: Annotated[Path | None, Opt(help="Weights to use (default: random, seeded).")] = None,
    video: Annotated[Path | None, Opt(help="Video (default: the NTU sample).")] = None,
    skeleton: Annotated[Path | None, Opt(help="Its skeleton JSON (default: the NTU sample's).")] = None,
    concurrencies: Annotated[str, Opt(help="HTTP client concurrencies.")] = "1,4,8",
) -> None:
    from rich.console import Console

    from pcan_serve.errors import PCANError

    from .backends import NAMES
    from .context import Settings
    from .report import write_outputs
    from .runner import run

    err = Console(stderr=True)
    try:
        if preset is not None and preset not in ("ntu60", "tiny"):
            raise UsageError(f"--preset: expected ntu60 or tiny, got {preset!r}")
        given = dict(preset=preset, repeats=repeats, warmup=warmup, max_seconds=max_seconds, out=out, device=device)
        given |= dict(checkpoint=checkpoint, video=video, skeleton=skeleton)
        given |= dict(concurrencies=_ints(concurrencies, "--concurrencies"))
        given |= dict(batch_sizes=_ints(batch_sizes, "--batch-sizes") if batch_sizes else None)
        given |= dict(clips=_ints(clips, "--clips") if clips else None)
        given |= dict(stages=_names(stages, STAGES, "--stages") if stages else None)
        given |= dict(backends=_names(backends, NAMES, "--backends") if backends else None)
        overrides = {k: v for k, v in given.items() if v is not None}
        settings = Settings.quick_mode(**overrides) if quick else Settings(**overrides)
        for path in (settings.video, settings.skeleton):
            if not Path(path).is_file():
                err.print(f"[yellow]warning:[/yellow] {path} not found: stages that need the sample are skipped")
        start = time.perf_counter()
        results = run(settings, log=lambda msg: err.print(f"[dim]{time.perf_counter() - start:6.1f}s {msg}[/dim]"))
    except (PCANError, UsageError) as exc:  # a device that is not here, a checkpoint that cannot load: exit 2
        stop(exc)
    files = write_outputs(results, settings.out)
    typer.echo((settings.out / "bench.md").read_text())
    err.print("wrote " + ", ".join(str(p) for p in files))
