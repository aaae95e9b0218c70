"""``pcan train``, ``pcan calibrate`` and ``pcan data synth`` (typer). mmengine/mmaction are imported inside
the commands.

Mount into the ``pcan`` app with :func:`register` (``pcan train ...``, ``pcan calibrate ...``, ``pcan data
synth ...``); run standalone as ``python -m training.cli train ...`` and so on.

``pcan train`` exit codes: 0 trained, 1 the run failed, 2 it cannot start (a config, override or dataset that is
not usable or not there: one line that says what to change, from the CLI's one table ``pcan_serve/cli/errors.py``),
3 the guard stopped the run at a failed gate (``--stop-on-failed-gate``); the diagnosis is in
WORK_DIR/guard_report.md. Unless
``--no-calibrate``, a run that was not stopped ends by calibrating its best checkpoint into
WORK_DIR/calibrated.pth; WORK_DIR/training_summary.md says what came out.
"""

from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

import typer

from pcan_serve.cli.errors import UsageError, stop

CONFIGS = Path(__file__).resolve().parent / "configs"
PRESET_CONFIGS = {"ntu60": CONFIGS / "pcan_ntu60.py", "tiny": CONFIGS / "pcan_synth_tiny.py"}
EXIT_STOPPED_AT_GATE = 3
T = TypeVar("T")
CALIBRATED_NAME = "calibrated.pth"

data_app = typer.Typer(help="Datasets for training and tests.", no_args_is_help=True)


class Launcher(StrEnum):
    none = "none"
    pytorch = "pytorch"


class VideoLayout(StrEnum):
    mmaction2 = "mmaction2"
    raw = "raw"


VIDEO_LAYOUT_HELP = (
    "NTU videos on disk: mmaction2 = nturgbd_videos/{frame_dir}.mp4 (960x540), raw = nturgb+d_rgb/{frame_dir}_rgb.avi "
    "(the download as it is). Default: the config's (mmaction2)."
)
CFG_OPTIONS_HELP = "Config overrides key=value (several may follow one flag)."


def _overrides(ctx: typer.Context) -> list[str]:
    """The key=value words after ``--cfg-options``'s first value (typer takes one value per flag)."""

    extra = list(ctx.args)
    bad = [a for a in extra if "=" not in a]
    if bad:
        raise UsageError(f"unexpected arguments {bad}; --cfg-options overrides look like key=value")
    return extra


def _stopping(call: Callable[[], T]) -> T:
    """``call()``; a known error ends the command with its one line and exit code (``pcan_serve/cli/errors.py``),
    anything else is a bug and keeps its traceback. Imported when used: ``pcan_serve.cli`` mounts this module."""
    from pcan_serve.errors import PCANError

    try:
        return call()
    except (PCANError, UsageError) as exc:
        stop(exc)


def _echo_calibration(calibrated) -> None:
    from pcan_serve.model.scores import fusion_name

    f = calibrated.fit
    served = fusion_name(calibrated.meta.fusion_weights)
    typer.echo(f"calibrated checkpoint: {calibrated.path} ({f.num_samples} {f.split} samples)")
    typer.echo("  temperature " + ", ".join(f"{b} {t:.4g}" for b, t in f.temperature.items()))
    typer.echo("  ECE " + ", ".join(f"{b} {f.ece_before[b]:.4f} -> {f.ece_after[b]:.4f}" for b in f.temperature))
    typer.echo("  NLL " + ", ".join(f"{b} {f.nll_before[b]:.4f} -> {f.nll_after[b]:.4f}" for b in f.temperature))
    typer.echo(f"  fusion {served} (val top-1 {100 * f.top1[served]:.2f} %)")
    if f.caveat:
        typer.echo(f"  warning: {f.caveat}")


def train(
    ctx: typer.Context,
    config: Path = typer.Argument(..., help="mmengine config file, e.g. training/configs/pcan_ntu60.py"),
    work_dir: Path | None = typer.Option(None, "--work-dir", help="Where logs/checkpoints/guard go."),
    data_root: Path | None = typer.Option(None, "--data-root", help="Dataset folder; all data paths follow."),
    cfg_options: list[str] | None = typer.Option(None, "--cfg-options", help=CFG_OPTIONS_HELP),
    video_layout: VideoLayout | None = typer.Option(None, "--video-layout", help=VIDEO_LAYOUT_HELP),
    launcher: Launcher = typer.Option(Launcher.none, "--launcher", help="'pytorch' under torchrun (DDP)."),
    stop_on_failed_gate: bool = typer.Option(
        False, "--stop-on-failed-gate", help="Stop at a failed epoch-1 gate instead of finishing the run."
    ),
    calibrate: bool = typer.Option(
        True, "--calibrate/--no-calibrate", help=f"Calibrate the best checkpoint on val: WORK_DIR/{CALIBRATED_NAME}."
    ),
) -> None:
    """Fine-tune (or train) PCAN with mmengine, guarded by baseline/gate/collapse checks, then calibrate it."""

    def configure():
        from training.train import build_config, check_data

        layout = video_layout.value if video_layout else None
        options = (cfg_options or []) + _overrides(ctx)
        cfg = build_config(config, work_dir, data_root, options, launcher.value, stop_on_failed_gate, layout)
        check_data(cfg)
        return cfg

    cfg = _stopping(configure)
    from training.train import run

    result = run(cfg)
    from mmengine.dist import is_main_process

    if is_main_process():  # after DDP, rank 0 alone calibrates (one process reads the whole val set) and reports
        _finish(cfg, result, calibrate)
    if result.stopped_at_gate:
        raise typer.Exit(EXIT_STOPPED_AT_GATE)


def _finish(cfg, result, calibrate: bool) -> None:
    """Calibrate the run's best checkpoint (unless told not to or stopped), write and print the summary."""
    typer.echo(f"work dir: {result.work_dir}")
    typer.echo(f"best checkpoint: {result.best_checkpoint}")
    if result.guard_status is not None:
        typer.echo(f"guard: {result.guard_status} (see {result.work_dir / 'guard_report.md'})")
    calibrated, note = None, None
    source = result.best_checkpoint or result.last_checkpoint
    if not calibrate:
        note = "Not calibrated (--no-calibrate): `pcan calibrate CHECKPOINT --data-root ...` does it later."
    elif result.stopped_at_gate:
        note = "Not calibrated: the guard stopped the run at a failed gate."
    elif source is None or not cfg.get("val_dataloader"):
        note = "Not calibrated: no checkpoint or no validation set."
    else:
        from training.calibrate import calibrate_checkpoint

        calibrated = calibrate_checkpoint(cfg, source, result.work_dir / CALIBRATED_NAME)
        _echo_calibration(calibrated)
    from training.summary import write_summary

    summary = write_summary(result.work_dir, result.best_checkpoint, result.guard_status, calibrated, note)
    typer.echo(f"summary: {summary}" + (f" ({note})" if note else ""))


def calibrate(
    ctx: typer.Context,
    checkpoint: Path = typer.Argument(..., help="PCAN checkpoint (.pth) to calibrate."),
    data_root: Path = typer.Option(..., "--data-root", help="Dataset folder whose val split is fitted on."),
    config: Path | None = typer.Option(
        None, "--config", help="Config giving the val set and pipeline; default: the preset's (ntu60 or synth tiny)."
    ),
    output: Path | None = typer.Option(
        None, "--output", help="Where to write the calibrated checkpoint; default CHECKPOINT_calibrated.pth."
    ),
    video_layout: VideoLayout | None = typer.Option(None, "--video-layout", help=VIDEO_LAYOUT_HELP),
    cfg_options: list[str] | None = typer.Option(None, "--cfg-options", help=CFG_OPTIONS_HELP),
    device: str = typer.Option("auto", "--device", help="cpu | cuda | auto."),
) -> None:
    """Fit per-branch temperatures and late-fusion weights on the val set; write a calibrated checkpoint."""

    def calibrated():
        from pcan_serve.errors import CheckpointError
        from pcan_serve.model_io import read_meta
        from training.calibrate import calibrate_checkpoint
        from training.train import build_config, check_data

        options = (cfg_options or []) + _overrides(ctx)
        if not checkpoint.is_file():
            raise CheckpointError(f"checkpoint not found: {checkpoint}")
        if output is not None and not output.parent.is_dir():
            raise UsageError(f"--output folder does not exist: {output.parent}")
        path = config
        if path is None:
            preset = read_meta(checkpoint).config.name
            if preset not in PRESET_CONFIGS:
                raise UsageError(f"no default config for a {preset!r} model: pass the config of its data (--config)")
            path = PRESET_CONFIGS[preset]
        cfg = build_config(path, None, data_root, options, video_layout=video_layout.value if video_layout else None)
        check_data(cfg, ("val_dataloader",))
        return calibrate_checkpoint(cfg, checkpoint, output, device)

    _echo_calibration(_stopping(calibrated))


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

    def write():
        if out_dir.exists() and not out_dir.is_dir():
            raise UsageError(f"{out_dir} is a file: give a folder to write the dataset into")
        spec = SynthSpec(num_classes=classes, videos_per_class=videos_per_class, seed=seed, val_fraction=val_fraction)
        try:
            return generate(out_dir, spec)  # InvalidRequest for a spec it cannot render
        except OSError as exc:
            raise UsageError(f"cannot write {out_dir}: {exc.strerror or exc}") from None

    result = _stopping(write)
    typer.echo(
        f"{len(result.train)} train + {len(result.val)} val videos of {len(result.class_names)} classes "
        f"({', '.join(result.class_names)}) in {result.root}"
    )


TRAIN_CONTEXT = {"allow_extra_args": True, "ignore_unknown_options": False}  # --cfg-options a=1 b=2


def register(app: typer.Typer) -> None:
    """Add ``train``, ``calibrate`` and ``data synth`` to the ``pcan`` app."""
    app.command("train", context_settings=TRAIN_CONTEXT)(train)
    app.command("calibrate", context_settings=TRAIN_CONTEXT)(calibrate)
    app.add_typer(data_app, name="data")


app = typer.Typer(help="PCAN training.", no_args_is_help=True)
register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
