"""Which model the service serves (PCAN_MODEL, the model store, or untrained weights), opened and checked.

A model that cannot be served ends the server with its reason and a non-zero exit: `pcan serve` checks it
before BentoML starts (:func:`check_served`), a bare ``bentoml serve`` or a container when BentoML imports
the service (:func:`check_at_import`), and a model process that still fails stops the server rather than
being restarted forever (:func:`stop_server`).
"""

import logging
import os
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BackendUnavailable
from ..model_io import backend_of, read_meta
from ..runtime import Predictor, Prepared
from .settings import UNTRAINED, ServiceSettings
from .store import artifact_path, find_model

CHECKED_ENV = "PCAN_MODEL_CHECKED"  # set once the model was opened and run: worker processes skip the check
logger = logging.getLogger("bentoml.pcan")


def store_tag(settings: ServiceSettings) -> str | None:
    """The stored model to serve (and to put in a Bento); None: PCAN_MODEL names a file, or nothing was
    imported (then the preset's untrained weights are served)."""
    if settings.model_path:
        return None
    stored = find_model(settings.model_tag, settings.backend)
    return str(stored.tag) if stored is not None else None


def model_source(settings: ServiceSettings, stored: Any) -> tuple[str | None, str | None]:
    """(model file or None for untrained weights, preset) from PCAN_MODEL, the store, or the preset."""
    if settings.model_path == UNTRAINED:
        path, preset = None, settings.preset or "ntu60"
    elif settings.model_path:
        path, preset = settings.model_path, settings.preset
    elif stored is not None:
        path, preset = str(artifact_path(stored)), stored.info.labels.get("preset") or settings.preset
    else:
        path, preset = None, settings.preset or "ntu60"
    kind = backend_of(path) if path else "torch"
    if settings.backend and settings.backend != kind and path is None and settings.model_path != UNTRAINED:
        raise BackendUnavailable(
            f"PCAN_BACKEND={settings.backend}, but no {settings.backend} model was imported "
            "(`pcan models import`), and untrained weights run on torch"
        )
    if settings.backend and settings.backend != kind:
        raise BackendUnavailable(
            f"PCAN_BACKEND={settings.backend}, but the model to serve "
            f"({Path(path).name if path else 'untrained ' + str(preset)}) needs {kind}"
        )
    return path, preset


def open_served(settings: ServiceSettings, stored: Any = None) -> tuple[Predictor, str]:
    """The served model, opened and run once (batch 1): (predictor, a description of its source)."""
    path, preset = model_source(settings, stored)
    source = str(stored.tag) if stored is not None else (path or f"untrained {preset}")
    predictor = Predictor.from_path(path, preset=preset, device=settings.device, batch_size=settings.batch_size)
    p = predictor.config.preprocess
    imgs = np.zeros((1, 3, p.clip_len_rgb, p.resize, p.resize), np.float32)
    heatmaps = np.zeros((1, 17, p.clip_len_pose, p.heatmap_size, p.heatmap_size), np.float32)
    predictor.infer([Prepared("warm-up", imgs, heatmaps)])  # the first request is not the slow one
    return predictor, source


def check_served(settings: ServiceSettings) -> str:
    """Open and run the model the service would serve; raises with the reason when it cannot."""
    tag = store_tag(settings)
    stored = None
    if tag is not None:
        import bentoml

        stored = bentoml.models.get(tag)
    predictor, source = open_served(settings, stored)
    meta = predictor.meta
    return f"{source}: pcan-{meta.config.name}, {predictor.backend.name} on {predictor.backend.device}, {meta.weights}"


def check_at_import(settings: ServiceSettings) -> None:
    """In the process that imports the service first (BentoML's arbiter), check the model once; a model that
    cannot be served exits there with code 1. Worker processes inherit the mark and skip the check."""
    if os.environ.get(CHECKED_ENV) == "1":
        return
    try:
        if settings.model_path and settings.model_path != UNTRAINED:
            read_meta(settings.model_path, settings.preset)  # reads the file as serving will
        else:
            store_tag(settings)
    except Exception as exc:
        print(f"pcan: cannot serve the model: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    os.environ[CHECKED_ENV] = "1"


def _failure_mark(arbiter_pid: int) -> Path:
    return Path(tempfile.gettempdir()) / f"pcan-model-failed-{arbiter_pid}"


def stop_server(reason: str) -> None:
    """Ask BentoML's arbiter (this worker's parent) to shut the whole server down, with the reason logged; the
    mark left for it makes its exit code 1 (:func:`exit_code_after_failure`)."""
    logger.error("pcan: %s; stopping the server", reason)
    print(f"pcan: {reason}; stopping the server", file=sys.stderr, flush=True)
    _failure_mark(os.getppid()).write_text(reason)
    os.kill(os.getppid(), signal.SIGTERM)


def exit_code_after_failure() -> None:
    """Registered with atexit in every process that imports the service: the arbiter, whose pid a failing
    model worker marked, exits with 1 instead of BentoML's 0 after a requested shutdown."""
    mark = _failure_mark(os.getpid())
    if mark.exists():
        mark.unlink(missing_ok=True)
        os._exit(1)
