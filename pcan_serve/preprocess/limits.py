"""Caps on untrusted input: a request can never make preprocessing allocate or compute without bound.

:class:`Limits` is the one typed set a caller passes down (the HTTP service fills it from ``PCAN_MAX_*``, the
CLI keeps the defaults); each cap is checked from a header or a size before the data it guards is materialised.
"""

from dataclasses import dataclass

DEFAULT_MAX_FRAMES = 3000
"""Video frames (100 s at 30 fps; NTU clips are under 300)."""

DEFAULT_MAX_PIXELS = 4096 * 4096
"""Pixels per video frame (a 4096x4096 RGB frame is 48 MiB; NTU's are 1920x1080)."""

DEFAULT_MAX_PERSONS = 10
"""Persons per skeleton (mmaction2 keeps at most 10 as well; NTU has 1 or 2)."""

DEFAULT_MAX_SKELETON_BYTES = 20 * 2**20
"""Skeleton file size (JSON or .npz) before parsing; NTU skeletons are 1-3 MiB as JSON."""

DEFAULT_MAX_CLIPS = 10
"""Clips per request: what mmaction2's RGBPoseConv3D test config samples (``num_clips=10``); more clips cost
linearly more and no longer change the averaged answer much."""

DEFAULT_MAX_WINDOWS = 120
"""Windows per timeline request (a 100 s video in 1 s strides); each costs ``num_clips`` clips of inference."""

FRAME_TOLERANCE = 2
"""Largest skeleton/video frame-count difference that is clipped to the shorter instead of rejected."""

MAX_BOX_SCALE = 2.0
"""A person box (hence its zero-padded crop) may span at most this many times the frame's longer side."""


@dataclass(frozen=True)
class Limits:
    """The caps one item is held to (each positive)."""

    max_frames: int = DEFAULT_MAX_FRAMES
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_persons: int = DEFAULT_MAX_PERSONS
    max_skeleton_bytes: int = DEFAULT_MAX_SKELETON_BYTES
    max_clips: int = DEFAULT_MAX_CLIPS
    max_windows: int = DEFAULT_MAX_WINDOWS

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
