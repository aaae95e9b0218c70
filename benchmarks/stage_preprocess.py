"""Preprocessing stage: pcan_serve.preprocess against mmaction2's own test pipeline, per clip count.

``after_decode``: decoded frames in memory -> normalised imgs + heatmaps (compact box, resize, heatmaps,
format, normalise); each side starts from its own decode output, rebuilt untimed before every mmaction2 call
because its transforms edit it. ``overall``: video and skeleton JSON files in, model inputs out, decoding
included. Read ratios with the load: on a busy machine the longer mmaction2 call is preempted more often.
"""

import copy
import importlib
import json
from pathlib import Path
from typing import Any

from .context import Context
from .stage_decode import BACKENDS
from .timing import Contender


def run(ctx: Context) -> None:
    import cv2

    from pcan_serve.preprocess import (
        build_inputs,
        fit_to_video,
        load_skeleton,
        make_inputs,
        open_video,
        plan_clips,
        second_core,
    )

    s, cfg = ctx.settings, ctx.model.config.preprocess
    mm = None if ctx.mm_status else importlib.import_module("training.mm_reference")
    if mm is None:
        ctx.skip("preprocess", ctx.mm_status, impl="mmaction2", batch=1)
    skeleton = load_skeleton(s.skeleton)

    def mm_annotation() -> dict[str, Any]:
        return mm.mm_annotation(s.video, json.loads(Path(s.skeleton).read_text()))

    extra = dict(video=Path(s.video).name, resize=cfg.resize, cv2_threads=cv2.getNumThreads())
    extra["preprocess_second_core"] = second_core.ENABLED  # pcan may hand work to a second thread
    for clips in s.clips:
        with open_video(s.video) as video:
            skel = fit_to_video(skeleton, video.num_frames)
            plan = plan_clips(skel.num_frames, clips, cfg)
            frames = video.decode(plan.rgb_unique)
        after = [Contender("pcan", lambda _, f=frames, k=skel, p=plan: build_inputs(f, k, p, cfg))]
        overall = [Contender("pcan", lambda _, n=clips: make_inputs(s.video, s.skeleton, num_clips=n, config=cfg))]
        if mm is not None:  # "overall" reads the skeleton JSON inside the call on both sides
            t = mm.mm_transforms(clips, cfg.resize)
            decoded = mm.mm_apply(mm_annotation(), t[:2])
            after.append(Contender("mmaction2", lambda r, t=t: mm.mm_finish(r, t), lambda d=decoded: copy.deepcopy(d)))
            overall.append(Contender("mmaction2", lambda _, t=t: mm.mm_finish(mm.mm_apply(mm_annotation(), t[:2]), t)))
        for part, contenders in (("after_decode", after), ("overall", overall)):
            ctx.log(f"preprocess: {part}, {clips} clip(s)")

            def fields(name: str, part: str = part, clips: int = clips) -> dict[str, Any]:
                return dict(
                    impl=name, backend=BACKENDS[name], batch=1, per_call=clips, part=part, num_clips=clips, **extra
                )

            ctx.record("preprocess", ctx.time(contenders), fields, reference="mmaction2")
