"""A request's cost from its headers, before any frame is decoded or the skeleton is parsed.

Model work is its clips. Preprocessing work is counted in decoded pixels: the video's frames x pixels per frame as
its header declares them (PyAV opens it without decoding; the decoder starts at the keyframe before each sampled
frame, so for the usual one-keyframe-per-few-seconds videos every frame up to the last sample is decoded: measured on
the NTU sample, 1 clip and 10 clips decode in the same time), plus each clip's crop, resize and heatmaps and the
skeleton's values at their measured pixel-equivalents (same sample: ~60 ms a clip, ~2 us a JSON value, ~11 ns a
decoded pixel on this 2-core machine under load). Admission turns both into seconds with the measured rates.
"""

from pathlib import Path

from ..preprocess import Limits
from ..preprocess.skeleton_io import NPZ_MAGIC, count_values
from ..preprocess.video import Video, open_video
from .admission import Cost

CLIP_PIXELS = 5_000_000
VALUE_PIXELS = 200
NPZ_BYTES_PER_VALUE = 4


def estimate(video: Path, skeleton: bytes | None, num_clips: int, limits: Limits) -> Cost:
    """``num_clips`` clips of ``video`` with ``skeleton``; the video's header is checked against the limits here
    (a video that cannot be opened is refused before admission). Without a skeleton the server estimates one on the
    frames the pose clips sample: more work per decoded pixel, which the measured rate takes in."""
    with open_video(video, max_frames=limits.max_frames, max_pixels=limits.max_pixels) as opened:
        return cost_of(opened, skeleton, num_clips)


def cost_of(video: Video, skeleton: bytes | None, num_clips: int) -> Cost:
    """``num_clips`` clips of an opened ``video`` (its header's frames x pixels) with ``skeleton``."""
    decoded = video.num_frames * video.header_pixels
    if skeleton is None:
        values = 0
    elif skeleton.startswith(NPZ_MAGIC):
        values = len(skeleton) // NPZ_BYTES_PER_VALUE
    else:
        values = count_values(skeleton)
    return Cost(clips=num_clips, pixels=decoded + VALUE_PIXELS * values, clip_pixels=CLIP_PIXELS)
