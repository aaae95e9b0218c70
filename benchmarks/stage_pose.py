"""Pose stage: the built-in estimator (BlazePose on LiteRT) on the NTU sample, the parts and one clip's worth.

* ``detector (whole frame)``: one frame letterboxed whole; ``detector (whole + tiles)``: what a detection costs in
  the tracker (the whole frame plus its overlapping square tiles);
* ``landmarks``: the landmark model on one person's ROI (crop + model + mapping back);
* ``clip``: the 32 sampled pose frames of one clip, already decoded, through the tracker (what a video-only
  request adds to preprocessing when the frames are decoded once for both branches);
* ``clip + decode``: the same with its own decoding of those frames (``PoseEstimator.estimate``);
* ``inputs, skeleton given`` vs ``inputs, video only``: one clip's model inputs from the video and the sample's
  skeleton (``make_inputs``), and from the video alone (``make_inputs_estimated``: the RGB and pose frames decoded in
  one pass, then ``build_inputs``): the difference is what estimating adds to a request (the model forward is the
  same).
"""

from pathlib import Path
from typing import Any

import numpy as np

from .context import Context
from .timing import Contender

PARTS = {
    "detector-whole": ("detector (whole frame)", "frames/s"),
    "detector-tiled": ("detector (whole + tiles)", "frames/s"),
    "landmarks": ("landmarks (one person)", "frames/s"),
    "clip": ("clip (32 pose frames, decoded)", "clips/s"),
    "clip-decode": ("clip + decode", "clips/s"),
    "inputs-skeleton": ("inputs, skeleton given", "videos/s"),
    "inputs-video-only": ("inputs, video only", "videos/s"),
}


def run(ctx: Context) -> None:
    from pcan_serve.errors import PCANError
    from pcan_serve.pose import load_estimator, make_inputs_estimated
    from pcan_serve.pose.detector import tiles
    from pcan_serve.pose.litert import DEFAULT_THREADS
    from pcan_serve.preprocess import make_inputs, open_video, plan_clips

    s, cfg = ctx.settings, ctx.model.config.preprocess
    try:
        estimator = load_estimator()
    except PCANError as exc:  # weights not installed here
        ctx.skip("pose", str(exc), backend="litert")
        return
    with open_video(s.video) as video:
        num_frames = video.num_frames
        wanted = np.unique(plan_clips(num_frames, 1, cfg).pose)
        frames = video.decode(wanted)
    first = frames[0]
    detections = estimator.detector.detect(first)
    if not detections:
        ctx.skip("pose", f"no person found in {Path(s.video).name}", backend="litert")
        return
    roi = detections[0].roi()

    def clip(_: Any) -> Any:
        session = estimator.session(num_frames)
        for index, frame in zip(wanted.tolist(), frames, strict=True):
            session.add(index, frame)
        return session.result()

    contenders = [
        Contender("detector-whole", lambda _: estimator.detector.detect(first, tiled=False)),
        Contender("detector-tiled", lambda _: estimator.detector.detect(first)),
        Contender("landmarks", lambda _: estimator.model(first, roi)),
        Contender("clip", clip),
        Contender("clip-decode", lambda _: estimator.estimate(s.video, frames=wanted)),
        Contender("inputs-skeleton", lambda _: make_inputs(s.video, s.skeleton, config=cfg)),
        Contender("inputs-video-only", lambda _: make_inputs_estimated(s.video, estimator, config=cfg)),
    ]
    height, width = first.shape[:2]
    note = (
        f"{width}x{height}, {len(tiles(height, width))} detector runs per tiled detection, "
        f"{len(wanted)} pose frames per clip, LiteRT {DEFAULT_THREADS} thread(s)"
    )

    def fields(name: str) -> dict[str, Any]:
        part, unit = PARTS[name]
        backend = "pyav" if name == "inputs-skeleton" else "litert"
        return dict(impl="pcan", backend=backend, part=part, batch=1, unit=unit, note=note, video=Path(s.video).name)

    recs = ctx.record("pose", ctx.time(contenders), fields, reference="inputs-skeleton")
    if "inputs-skeleton" in recs and "inputs-video-only" in recs:
        extra = recs["inputs-video-only"]["median_ms"] - recs["inputs-skeleton"]["median_ms"]
        recs["inputs-video-only"]["extra_ms_vs_skeleton"] = round(extra, 1)
