"""``pcan train`` and ``pcan data synth`` (typer). mmengine/mmaction are imported inside the commands.

Mount into the ``pcan`` app with :func:`register` (``pcan train ...``, ``pcan data synth ...``); run
standalone as ``python -m training.cli train ...`` / ``python -m training.cli data synth ...``.

``pcan train`` exit codes: 0 trained, 1 the run failed, 2 usage error, 3 the guard stopped the run at a
failed gate (``--stop-on-failed-gate``); the diagnosis is in WORK_DIR/guard_report.md.
"""

from enum import StrEnum
from pathlib import Path

import typer

EXIT_STOPPED_AT_GATE = 3

data_app = typer.Typer(help="Datasets for training and tests.", no_args_is_help=True)


class Launcher(StrEnum):
    none = "none"
    pytorch = "pytorch"


def train(
    ctx: typer.Context,
    config: Path = typer.Argument(..., help="mmengine config file, e.g. training/configs/pcan_ntu60.py"),
    work_dir: Path | None = typer.Option(None, "--work-dir", help="Where logs/checkpoints/guard go."),
    data_root: Path | None = typer.Option(None, "--data-root", help="Dataset folder; all data paths follow."),
    cfg_options: list[str] | None = typer.Option(
        None, "--cfg-options", help="Config overrides key=value (several may follow one flag)."
    ),
    launcher: Launcher = typer.Option(Launcher.none, "--launcher", help="'pytorch' under torchrun (DDP)."),
    stop_on_failed_gate: bool = typer.Option(
        False, "--stop-on-failed-gate", help="Stop at a failed epoch-1 gate instead of finishing the run."
    ),
) -> None:
    """Fine-tune (or train) PCAN with mmengine, guarded by baseline/gate/collapse checks."""
    extra = list(ctx.args)
    bad = [a for a in extra if "=" not in a]
    if bad:
        raise typer.BadParameter(f"unexpected arguments {bad}; overrides look like key=value", param_hint="ARGS")
    from training.train import ConfigUsageError, build_config, run

    try:
        cfg = build_config(
            config, work_dir, data_root, (cfg_options or []) + extra, launcher.value, stop_on_failed_gate
        )
    except ConfigUsageError as exc:
        raise typer.BadParameter(str(exc)) from None
    result = run(cfg)
    typer.echo(f"work dir: {result.work_dir}")
    typer.echo(f"best checkpoint: {result.best_checkpoint}")
    if result.guard_status is not None:
        typer.echo(f"guard: {result.guard_status} (see {result.work_dir / 'guard_report.md'})")
    if result.stopped_at_gate:
        raise typer.Exit(EXIT_STOPPED_AT_GATE)


@data_app.command("synth")
def synth(
    out_dir: Path = typer.Argument(..., help="Folder to write the dataset into."),
    classes: int = typer.Option(4, "--classes", min=2, help="Number of motion classes (2-8)."),
    videos_per_class: int = typer.Option(40, "--videos-per-class", min=2, help="Videos per class."),
    seed: int = typer.Option(0, "--seed", help="Same seed, same dataset."),
    val_fraction: float = typer.Option(0.2, "--val-fraction", min=0.0, max=0.9, help="Share held out as val."),
) -> None:
    """Render a synthetic stick-figure action set (videos, skeletons, PoseDataset .pkl, manifests)."""
    from training.synth import SynthSpec, generate

    try:
        spec = SynthSpec(num_classes=classes, videos_per_class=videos_per_class, seed=seed, val_fraction=val_fraction)
        result = generate(out_dir, spec)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    typer.echo(
        f"{len(result.train)} train + {len(result.val)} val videos of {len(result.class_names)} classes "
        f"({', '.join(result.class_names)}) in {result.root}"
    )


TRAIN_CONTEXT = {"allow_extra_args": True, "ignore_unknown_options": False}


def register(app: typer.Typer) -> None:
    """Add ``train`` and ``data synth`` to the ``pcan`` app."""
    app.command("train", context_settings=TRAIN_CONTEXT)(train)
    app.add_typer(data_app, name="data")


app = typer.Typer(help="PCAN training.", no_args_is_help=True)
register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
