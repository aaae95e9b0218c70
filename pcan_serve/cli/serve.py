"""`pcan serve` (BentoML HTTP service) and `pcan models import|list` (the BentoML model store)."""

import os
import socket
import sys
from pathlib import Path
from typing import Annotated

import typer

from ..errors import PCANError
from ..http.settings import UNTRAINED
from ..model_io import ModelSource
from . import options as opt
from .errors import UsageError, err, stop

app = typer.Typer(no_args_is_help=True, add_completion=False)
models_app = typer.Typer(no_args_is_help=True, add_completion=False, help="PCAN models in the BentoML model store.")
app.add_typer(models_app, name="models")
SERVICE = "pcan_serve.http.service:PCANService"


def serve_env(source: ModelSource, device: str | None = None, **settings: object) -> dict[str, str]:
    """``PCAN_*`` variables for the service: a model file, else a store tag, else (``preset`` alone)
    untrained weights; none of them means the newest imported model, or untrained ntu60 when none was imported."""
    env: dict[str, str] = {}
    if source.path is not None:
        env["PCAN_MODEL"] = str(source.path.resolve())
    elif source.tag is not None:
        env["PCAN_MODEL_TAG"] = source.tag
    elif source.preset is not None:
        env["PCAN_MODEL"] = UNTRAINED
    if source.preset is not None:
        env["PCAN_PRESET"] = source.preset
    if device is not None:
        env["PCAN_DEVICE"] = device
    env.update({f"PCAN_{k.upper()}": str(v) for k, v in settings.items() if v is not None})
    return env


def check_port(host: str, port: int) -> None:
    """The port is free to listen on (BentoML would otherwise fail after the model has loaded, at length)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise UsageError(f"cannot listen on {host}:{port} ({exc.strerror}); choose another --port") from None


@app.command(help="Serve POST /predict with BentoML (health: /livez /readyz, metrics: /metrics).")
def serve(
    checkpoint: opt.Checkpoint = None,
    onnx: opt.Onnx = None,
    engine: opt.Engine = None,
    model: Annotated[
        str | None, typer.Option(help="Model store tag, e.g. pcan:latest.", show_default="the newest 'pcan' model")
    ] = None,
    preset: opt.Preset = None,
    device: Annotated[str | None, typer.Option(help="auto | cpu | cuda | cuda:N.", show_default="auto")] = None,
    port: Annotated[int, typer.Option(min=1, max=65535)] = 3000,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "0.0.0.0",
    api_workers: Annotated[
        int | None, typer.Option(min=1, help="API processes (PCAN_API_WORKERS).", show_default="one per 8 CPUs")
    ] = None,
    decode_threads: Annotated[
        int | None, typer.Option(min=1, help="Videos decoded at once per API process (PCAN_DECODE_THREADS).")
    ] = None,
    max_batch: Annotated[int | None, typer.Option(min=2, help="Requests per model batch (PCAN_MAX_BATCH).")] = None,
    max_upload_mb: Annotated[
        int | None, typer.Option(min=1, help="Upload size cap in MiB (PCAN_MAX_UPLOAD_MB).")
    ] = None,
) -> None:
    try:
        source = opt.model_source(checkpoint, onnx, engine, preset, tag=model)
        env = serve_env(
            source,
            device,
            api_workers=api_workers,
            decode_threads=decode_threads,
            max_batch=max_batch,
            max_upload_mb=max_upload_mb,
        )
        os.environ.update(env)
        check_port(host, port)
        from ..http.settings import load_settings
        from ..http.source import CHECKED_ENV, check_served

        # the model loads and runs once here, so a model that cannot be served never starts BentoML
        err.print(f"pcan serve: model ok: {check_served(load_settings())}", soft_wrap=True)
    except (UsageError, PCANError) as exc:
        stop(exc)
    env[CHECKED_ENV] = "1"
    cmd = [sys.executable, "-m", "bentoml", "serve", SERVICE, "--port", str(port), "--host", host]
    err.print(f"pcan serve: {' '.join(f'{k}={v}' for k, v in env.items())} {' '.join(cmd)}", soft_wrap=True)
    sys.stderr.flush()
    os.execve(cmd[0], cmd, {**os.environ, **env})  # bentoml takes this process: signals reach it directly


@models_app.command("import", help="Add a checkpoint / ONNX model / TensorRT engine to the BentoML model store.")
def import_(
    path: Annotated[Path, typer.Argument(help="model.pth | model.onnx | model.engine (with model.engine.json).")],
    name: Annotated[str, typer.Option(help="Model name in the store.")] = "pcan",
    preset: opt.Preset = None,
) -> None:
    from ..http.store import import_model

    try:
        stored = import_model(ModelSource.file(path, preset=preset), name=name)
    except PCANError as exc:
        stop(exc)
    labels = stored.info.labels
    err.print(
        f"imported {path.name}: {labels['preset']}, {labels['backend']} {labels['precision']}, "
        f"weights {labels['weights']}, fused head {labels['fused_head']}"
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
    if not stored:
        err.print(f"no '{name}' models in the store; add one with `pcan models import FILE`")
        return
    typer.echo("tag\tpreset\tbackend\tprecision\tweights\tfused_head\tsource")
    for m in stored:
        labels = m.info.labels
        cells = [labels.get(k, "?") for k in ("preset", "backend", "precision", "weights", "fused_head")]
        typer.echo("\t".join([str(m.tag), *cells, m.info.metadata.get("source", "")]))
