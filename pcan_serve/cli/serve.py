"""`pcan serve` (BentoML HTTP service) and `pcan models import|list` (the BentoML model store)."""

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ..errors import PCANError
from ..http.settings import UNTRAINED

app = typer.Typer(no_args_is_help=True, add_completion=False)
models_app = typer.Typer(no_args_is_help=True, add_completion=False, help="PCAN models in the BentoML model store.")
app.add_typer(models_app, name="models")
err = Console(stderr=True)
SERVICE = "pcan_serve.http.service:PCANService"


def serve_env(
    model: Path | None = None,
    tag: str | None = None,
    preset: str | None = None,
    device: str | None = None,
    **settings: object,
) -> dict[str, str]:
    """``PCAN_*`` variables for the service: a model file, else a store tag, else (``preset`` alone)
    untrained weights; unset means the newest imported model, or untrained ntu60 when none was imported."""
    env: dict[str, str] = {}
    if model is not None:
        env["PCAN_MODEL"] = str(Path(model).resolve())
    elif tag is not None:
        env["PCAN_MODEL_TAG"] = tag
    elif preset is not None:
        env["PCAN_MODEL"] = UNTRAINED
    if preset is not None:
        env["PCAN_PRESET"] = preset
    if device is not None:
        env["PCAN_DEVICE"] = device
    env.update({f"PCAN_{k.upper()}": str(v) for k, v in settings.items() if v is not None})
    return env


@app.command(help="Serve POST /predict with BentoML (health: /livez /readyz, metrics: /metrics).")
def serve(
    checkpoint: Annotated[Path | None, typer.Option(help="PyTorch checkpoint (.pth).")] = None,
    onnx: Annotated[Path | None, typer.Option(help="Exported ONNX model.")] = None,
    engine: Annotated[Path | None, typer.Option(help="TensorRT engine (+ its .json sidecar).")] = None,
    model: Annotated[str | None, typer.Option(help="BentoML model store tag (default: newest 'pcan').")] = None,
    preset: Annotated[str | None, typer.Option(help="ntu60 | tiny; alone: untrained weights.")] = None,
    device: Annotated[str | None, typer.Option(help="auto | cpu | cuda (default auto).")] = None,
    port: Annotated[int, typer.Option(min=1, max=65535)] = 3000,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "0.0.0.0",
    api_workers: Annotated[
        int | None, typer.Option(min=1, help="API processes (PCAN_API_WORKERS); default: one per 8 CPUs.")
    ] = None,
    decode_threads: Annotated[
        int | None, typer.Option(min=1, help="Videos decoded at once per API process (PCAN_DECODE_THREADS).")
    ] = None,
    max_batch: Annotated[int | None, typer.Option(min=2, help="Requests per adaptive batch.")] = None,
    max_upload_mb: Annotated[int | None, typer.Option(min=1, help="Upload size cap in MiB.")] = None,
) -> None:
    files = [p for p in (checkpoint, onnx, engine) if p is not None]
    if len(files) + (model is not None) > 1:
        err.print("[red]error:[/red] give at most one of --checkpoint, --onnx, --engine, --model")
        raise typer.Exit(2)
    if files and not files[0].is_file():
        err.print(f"[red]error:[/red] model file not found: {files[0]}")
        raise typer.Exit(2)
    env = serve_env(
        files[0] if files else None,
        model,
        preset,
        device,
        api_workers=api_workers,
        decode_threads=decode_threads,
        max_batch=max_batch,
        max_upload_mb=max_upload_mb,
    )
    os.environ.update(env)
    try:  # the model loads and runs once here, so a model that cannot be served never starts BentoML
        from ..http.settings import ServiceSettings
        from ..http.source import CHECKED_ENV, check_served

        err.print(f"pcan serve: model ok: {check_served(ServiceSettings.from_env())}", soft_wrap=True)
    except Exception as exc:
        err.print(f"[red]error:[/red] cannot serve the model: {exc}", soft_wrap=True)
        raise typer.Exit(2) from None
    env[CHECKED_ENV] = "1"
    cmd = [sys.executable, "-m", "bentoml", "serve", SERVICE, "--port", str(port), "--host", host]
    err.print(f"pcan serve: {' '.join(f'{k}={v}' for k, v in env.items())} {' '.join(cmd)}", soft_wrap=True)
    sys.stderr.flush()
    os.execve(cmd[0], cmd, {**os.environ, **env})  # bentoml takes this process: signals reach it directly


@models_app.command("import", help="Add a checkpoint / ONNX model / TensorRT engine to the BentoML model store.")
def import_(
    path: Annotated[Path, typer.Argument(help="model.pth | model.onnx | model.engine (with model.engine.json).")],
    name: Annotated[str, typer.Option(help="Model name in the store.")] = "pcan",
    preset: Annotated[str | None, typer.Option(help="Preset of a checkpoint without a stored config.")] = None,
) -> None:
    from ..http.store import import_model

    try:
        stored = import_model(path, name=name, preset=preset)
    except (PCANError, ValueError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    labels = stored.info.labels
    err.print(
        f"imported {path.name}: {labels['preset']}, {labels['backend']}, weights {labels['weights']}, "
        f"fused head {labels['fused_head']}"
    )
    typer.echo(str(stored.tag))


@models_app.command("list", help="PCAN models in the store, newest first.")
def list_(name: Annotated[str, typer.Option(help="Model name in the store.")] = "pcan") -> None:
    import bentoml
    from bentoml.exceptions import NotFound

    try:
        stored = sorted(bentoml.models.list(name), key=lambda m: m.info.creation_time, reverse=True)
    except NotFound:
        stored = []
    for m in stored:
        labels = m.info.labels
        typer.echo(
            f"{m.tag}\t{labels.get('preset')}\t{labels.get('backend')}\tweights={labels.get('weights')}\t"
            f"fused_head={labels.get('fused_head')}\t{m.info.metadata.get('source', '')}"
        )
