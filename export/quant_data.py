"""Real clips for int8 calibration and its agreement check: a manifest's videos, preprocessed as serving does.

Activation ranges calibrated on random inputs would fit random inputs: the clips must come from the data the model
will serve, through the same decode and preprocessing (``Frontend.prepare``), one clip per video.
"""

from pathlib import Path

import numpy as np

from pcan_serve.errors import InvalidManifest, MissingInput, PCANError
from pcan_serve.model_io import ModelMeta
from pcan_serve.preprocess.items import from_manifest  # the one manifest reader
from pcan_serve.runtime import Frontend

from .verify import Case

DEFAULT_CLIPS = 32


def spread(total: int, count: int) -> list[int]:
    """``count`` row indices spread evenly over ``total`` rows (all of them when there are fewer): manifests are
    often sorted by class, and the first rows alone would calibrate on one class."""
    if total <= count:
        return list(range(total))
    return sorted({int(i) for i in np.linspace(0, total - 1, count).round()})


def manifest_cases(manifest: str | Path, meta: ModelMeta, limit: int = DEFAULT_CLIPS) -> list[Case]:
    """One preprocessed clip from each of up to ``limit`` videos of ``manifest``; a video that cannot be read
    fails the export (calibrating on fewer videos than asked without saying so would hide it)."""
    items = from_manifest(Path(manifest))  # read row by row: only the chosen rows are kept
    if not items:
        raise InvalidManifest(f"manifest {Path(manifest).name} lists no videos")
    frontend = Frontend(meta, "onnxruntime")
    chosen = set(spread(len(items), limit))
    cases = []
    for index, item in enumerate(items):
        if index not in chosen:
            continue
        if item.skeleton is None:
            raise MissingInput(f"{item.video}: no skeleton given in the manifest or found beside the video")
        try:
            prepared = frontend.prepare(item.video, item.skeleton, num_clips=1, name=Path(item.video).name)
        except PCANError as exc:  # the same error, naming the video
            raise type(exc)(f"calibration video {item.video}: {exc}") from None
        cases.append(Case(prepared.name, prepared.imgs, prepared.heatmaps))
    return cases
