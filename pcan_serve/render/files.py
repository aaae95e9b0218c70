"""What ``pcan predict --annotate DIR`` writes per input: ``DIR/<video stem>.mp4``, and with a timeline
``DIR/<video stem>.timeline.png``."""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..preprocess.limits import Limits
from ..preprocess.skeleton import SkeletonSource
from .annotate import Progress, annotate_video
from .timeline_plot import plot_timeline


def write_pictures(
    video: str | Path,
    skeleton: SkeletonSource,
    prediction: Mapping[str, Any],
    out_dir: str | Path,
    progress: Progress | None = None,
    limits: Limits | None = None,
) -> list[Path]:
    """The annotated video (and the timeline plot when ``prediction`` has a timeline); returns their paths.
    ``limits``: the run's input limits."""
    out_dir, stem = Path(out_dir), Path(video).stem
    written = [annotate_video(video, skeleton, prediction, out_dir / f"{stem}.mp4", progress=progress, limits=limits)]
    if prediction.get("timeline"):
        written.append(plot_timeline(prediction, out_dir / f"{stem}.timeline.png"))
    return written
