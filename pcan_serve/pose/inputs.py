"""Model inputs from a video alone: the skeleton estimated on the pose branch's sampled frames, then the same
preprocessing as with a given skeleton (``preprocess.build_inputs``), each frame decoded once where it fits in
memory. The counterpart of ``preprocess.make_inputs`` for video-only requests."""

import time

from ..model.config import PreprocessConfig
from ..preprocess import Limits, build_inputs, fit_to_video, make_inputs, open_video, parse_skeleton
from ..preprocess.pipeline import Inputs, check_num_clips, plan_clips
from ..preprocess.video import VideoSource
from .estimate import KEEP_BYTES, PoseEstimator, PoseInfo


def make_inputs_estimated(
    video: VideoSource,
    estimator: PoseEstimator,
    num_clips: int = 1,
    config: PreprocessConfig | None = None,
    limits: Limits | None = None,
    timings: dict[str, float] | None = None,
    decode_device: str = "cpu",
    keep_bytes: int = KEEP_BYTES,
) -> tuple[Inputs, PoseInfo]:
    """(``{"imgs", "heatmaps"}`` as ``make_inputs`` gives them, what the estimator did). ``timings`` gets
    milliseconds added to ``"decode"`` (waiting for decoded frames), ``"pose"`` (detector + pose model) and
    ``"preprocess"`` (the rest). Raises ``NoPersonDetected`` when nobody is found. ``keep_bytes``: see
    :meth:`PoseEstimator.estimate_keeping`."""
    cfg, lim = config or PreprocessConfig(), limits or Limits()
    check_num_clips(num_clips, lim.max_clips)
    start = time.perf_counter()
    with open_video(video, max_frames=lim.max_frames, max_pixels=lim.max_pixels, device=decode_device) as opened:
        plan = plan_clips(opened.num_frames, num_clips, cfg)
        result, rgb = estimator.estimate_keeping(opened, plan.pose, plan.rgb_unique, keep_bytes=keep_bytes)
    info = result.info
    estimated = (time.perf_counter() - start) * 1e3
    pose_ms = info.timing_ms["detect"] + info.timing_ms["pose"]
    sink = timings if timings is not None else {}
    sink["decode"] = sink.get("decode", 0.0) + (estimated - pose_ms)
    sink["pose"] = sink.get("pose", 0.0) + pose_ms
    if rgb is None:  # the RGB frames did not fit in memory beside the others: decode them again, one at a time
        inputs = make_inputs(video, result.skeleton, num_clips, cfg, lim, sink, decode_device)
        return inputs, info
    tick = time.perf_counter()
    skeleton = fit_to_video(parse_skeleton(result.skeleton, max_persons=estimator.max_persons), plan.num_frames)
    inputs = build_inputs(rgb, skeleton, plan, cfg)
    sink["preprocess"] = sink.get("preprocess", 0.0) + (time.perf_counter() - tick) * 1e3
    return inputs, info
