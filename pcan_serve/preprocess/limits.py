"""Default caps on untrusted input: a request can never make preprocessing allocate without bound."""

DEFAULT_MAX_FRAMES = 3000
"""Video frames (100 s at 30 fps; NTU clips are under 300)."""

DEFAULT_MAX_PIXELS = 4096 * 4096
"""Pixels per video frame (a 4096x4096 RGB frame is 48 MiB; NTU's are 1920x1080)."""

DEFAULT_MAX_PERSONS = 10
"""Persons per skeleton (mmaction2 keeps at most 10 as well; NTU has 1 or 2)."""

DEFAULT_MAX_SKELETON_BYTES = 20 * 2**20
"""Skeleton file size (JSON or .npz) before parsing; NTU skeletons are 1-3 MiB as JSON."""

FRAME_TOLERANCE = 2
"""Largest skeleton/video frame-count difference that is clipped to the shorter instead of rejected."""

MAX_CLIPS = 32
"""Clips per request (mmaction2's test config uses 10; runtime.predictor uses this cap)."""

MAX_BOX_SCALE = 2.0
"""A person box (hence its zero-padded crop) may span at most this many times the frame's longer side."""

MAX_WINDOWS = 120
"""Windows per timeline request (a 100 s video in 1 s strides); each costs ``num_clips`` clips of inference."""
