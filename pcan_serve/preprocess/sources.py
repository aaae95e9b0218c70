"""Where inputs are found on disk: a video's sidecar skeleton, and the bundled NTU-60 sample clip."""

import os
from pathlib import Path

SAMPLE_ENV = "PCAN_SAMPLE_DIR"
SAMPLE_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "ntu60_sample"  # beside the checkout


def sidecar(video: str | Path) -> Path:
    """``clip.avi`` -> ``clip.json``; NTU's ``X_rgb.avi`` also finds ``X.json``. The path may not exist."""
    video = Path(video)
    direct = video.with_suffix(".json")
    if not direct.exists() and video.stem.endswith("_rgb"):
        ntu = video.with_name(video.stem[: -len("_rgb")] + ".json")
        if ntu.exists():
            return ntu
    return direct


def ntu_sample() -> tuple[Path, Path] | None:
    """(video, skeleton) of the NTU sample from ``$PCAN_SAMPLE_DIR`` or ``shared/data/ntu60_sample``; None
    when neither holds one."""
    roots = [Path(os.environ[SAMPLE_ENV])] if os.environ.get(SAMPLE_ENV) else []
    for root in [*roots, SAMPLE_DIR]:
        videos = sorted(root.glob("*_rgb.avi")) if root.is_dir() else []
        if videos and sidecar(videos[0]).exists():
            return videos[0], sidecar(videos[0])
    return None
