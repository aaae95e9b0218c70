"""Decode stage: open the video and decode the sampled RGB frames of one clip, pcan against mmaction2.

pcan: ``open_video`` + ``Video.decode`` of the distinct sampled frames; mmaction2: its test pipeline's
``MMUniformSampleFrames`` + ``MMDecode``, on a fresh annotation dict per call (untimed).
"""

import json
from pathlib import Path
from typing import Any

from .context import Context
from .timing import Contender

BACKENDS = {"pcan": "numpy/opencv", "mmaction2": "mmaction2-transforms"}


def run(ctx: Context) -> None:
    from pcan_serve.preprocess import open_video, plan_clips

    s, cfg = ctx.settings, ctx.model.config.preprocess

    def ours(_: Any) -> Any:
        with open_video(s.video) as video:
            return video.decode(plan_clips(video.num_frames, 1, cfg).rgb_unique)

    contenders = [Contender("pcan", ours)]
    if ctx.mm_status is None:
        from training.mm_reference import mm_annotation, mm_apply, mm_transforms

        transforms = mm_transforms(1, cfg.resize)[:2]
        skeleton = json.loads(Path(s.skeleton).read_text())
        mm = Contender("mmaction2", lambda ann: mm_apply(ann, transforms), lambda: mm_annotation(s.video, skeleton))
        contenders.append(mm)
    else:
        ctx.skip("decode", ctx.mm_status, impl="mmaction2", batch=1)
    with open_video(s.video) as video:
        note = f"{len(plan_clips(video.num_frames, 1, cfg).rgb_unique)} distinct sampled frames of one clip"

    def fields(name: str) -> dict[str, Any]:
        return dict(impl=name, backend=BACKENDS[name], batch=1, note=note, video=Path(s.video).name)

    ctx.record("decode", ctx.time(contenders), fields, reference="mmaction2")
