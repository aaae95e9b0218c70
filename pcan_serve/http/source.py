"""Which model the service serves (PCAN_MODEL, the model store, or untrained weights), opened and checked.

A model that cannot be served ends the server at start with its reason: `pcan serve` checks it before BentoML
starts, and a bare ``bentoml serve`` (a Bento, a container) in the service's deployment hook (``service.py``),
before any worker starts.
"""

import time
from typing import Any

from ..errors import BackendUnavailable
from ..model_io import ModelSource
from ..runtime import Predictor
from .settings import UNTRAINED, ServiceSettings
from .store import artifact_path, find_model

CHECKED_ENV = "PCAN_MODEL_CHECKED"  # set once the model was opened and run: the deployment hook skips the check


def store_tag(settings: ServiceSettings) -> str | None:
    """The stored model to serve (and to put in a Bento); None: PCAN_MODEL names a file or untrained weights, or
    nothing was imported (then the preset's untrained weights are served)."""
    if settings.model:
        return None
    stored = find_model(settings.model_tag, settings.backend)
    return str(stored.tag) if stored is not None else None


def served_source(settings: ServiceSettings, stored: Any) -> ModelSource:
    """PCAN_MODEL's file or untrained weights, else the stored model, else untrained weights of the preset."""
    if settings.model == UNTRAINED or (not settings.model and stored is None):
        if settings.backend not in (None, "torch"):
            raise BackendUnavailable(
                f"PCAN_BACKEND={settings.backend}, but no {settings.backend} model was given or imported "
                "(`pcan models import`), and untrained weights run on torch"
            )
        return ModelSource(preset=settings.preset or "ntu60")
    if settings.model:
        source = ModelSource.file(settings.model, preset=settings.preset)
    else:
        source = ModelSource(artifact_path(stored), preset=stored.info.labels.get("preset") or settings.preset)
    if settings.backend and settings.backend != source.backend:
        raise BackendUnavailable(f"PCAN_BACKEND={settings.backend}, but {source.path.name} needs {source.backend}")
    return source


def open_served(settings: ServiceSettings, stored: Any = None) -> tuple[Predictor, str]:
    """The served model, opened and run once: (predictor, a description of its source)."""
    source = served_source(settings, stored)
    predictor = Predictor.open_checked(source, settings.device, settings.clips_per_forward)
    return predictor, str(stored.tag) if stored is not None else source.describe()


def clip_seconds(predictor: Predictor, runs: int = 2) -> float:
    """One clip's forward time after the warm-up (``open_checked``), the fastest of ``runs``: the service rate
    admission starts from. Too high a start would refuse the requests whose answers would correct it."""
    probe = predictor.zeros("rate")
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        predictor.infer([probe])
        times.append(time.perf_counter() - start)
    return min(times)


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
