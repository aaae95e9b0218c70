"""Preprocessing: video + skeleton -> model inputs, equal to mmaction2's RGBPoseConv3D val/test pipeline.

Stages (each usable alone, e.g. to time them): :func:`load_skeleton`, :func:`open_video` /
:func:`decode_video`, :func:`plan_clips`, :func:`build_inputs`; :func:`make_inputs` runs them all.
"""

from .limits import DEFAULT_MAX_CLIPS, DEFAULT_MAX_FRAMES, DEFAULT_MAX_PERSONS, FRAME_TOLERANCE, Limits
from .pipeline import (
    Inputs,
    build_inputs,
    check_num_clips,
    make_inputs,
    plan_clips,
)
from .sampling import SamplePlan, sample_frames, uniform_test_indices
from .skeleton import Skeleton, check_frame_shape, fit_to_video, load_skeleton, parse_skeleton
from .video import Video, VideoHeader, decode_video, open_video

__all__ = [
    "DEFAULT_MAX_FRAMES",
    "DEFAULT_MAX_PERSONS",
    "FRAME_TOLERANCE",
    "DEFAULT_MAX_CLIPS",
    "Inputs",
    "Limits",
    "SamplePlan",
    "Skeleton",
    "Video",
    "VideoHeader",
    "build_inputs",
    "check_num_clips",
    "check_frame_shape",
    "decode_video",
    "fit_to_video",
    "load_skeleton",
    "make_inputs",
    "open_video",
    "parse_skeleton",
    "plan_clips",
    "sample_frames",
    "uniform_test_indices",
]
