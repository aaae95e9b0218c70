"""Decode and preprocessing stages: pcan_serve.preprocess against mmaction2's transforms, A/B on one input.

decode: open the video and decode the sampled RGB frames (pcan: ``open_video`` + ``Video.decode`` of the
distinct frames; mmaction2: ``MMUniformSampleFrames`` + ``MMDecode``).
preprocess: decoded frames in memory -> model inputs (compact box, resize, heatmaps, normalise); both start
from their own decode output, rebuilt untimed before each mmaction2 call because its transforms edit it.
"""

import copy
import json
from pathlib import Path
from typing import Any

from .context import Context
from .records import compare, measured, skipped
from .timing import Contender, interleave


def _ours(ctx: Context) -> dict[str, Any]:
    from pcan_serve.preprocess import fit_to_video, load_skeleton, open_video, plan_clips

    cfg = ctx.model.config.preprocess
    skel = load_skeleton(ctx.settings.skeleton)
    with open_video(ctx.settings.video) as video:
        skel = fit_to_video(skel, video.num_frames)
        plan = plan_clips(skel.num_frames, 1, cfg)
        frames = video.decode(plan.rgb_unique)

    def decode(_: Any) -> Any:
        with open_video(ctx.settings.video) as v:
            return v.decode(plan_clips(v.num_frames, 1, cfg).rgb_unique)

    return {"skeleton": skel, "plan": plan, "frames": frames, "decode": decode}


def _record_pair(ctx: Context, stage: str, timings: Any, note: str) -> None:
    s = ctx.settings
    common = dict(
        batch=1, preset=ctx.model.preset, device="cpu", rounds=timings.rounds, note=note, video=Path(s.video).name
    )
    recs = {}
    for name, samples in timings.samples_ms.items():
        impl = "mmaction2" if name == "mmaction2" else "pcan"
        recs[name] = measured(
            stage,
            impl,
            "numpy/opencv" if impl == "pcan" else "mmaction2-transforms",
            samples,
            first_call_ms=round(timings.first_call_ms[name], 3),
            **common,
        )
    if "pcan" in recs and "mmaction2" in recs:
        compare(recs["pcan"], recs["mmaction2"])
    ctx.results.add(*recs.values())
    for name, why in timings.failed.items():
        ctx.results.add(skipped(stage, why, impl=name, status="failed", preset=ctx.model.preset, batch=1))


def run_decode(ctx: Context) -> None:
    s = ctx.settings
    ours = _ours(ctx)
    contenders = [Contender("pcan", ours["decode"])]
    if ctx.mm_status is None:
        from .bench_preprocess import mm_annotation, mm_apply, mm_transforms

        transforms = mm_transforms(1, ctx.model.config.preprocess.resize)
        skel = json.loads(Path(s.skeleton).read_text())
        contenders.append(
            Contender(
                "mmaction2", lambda ann: mm_apply(ann, transforms[:2]), setup=lambda: mm_annotation(s.video, skel)
            )
        )
    else:
        ctx.results.add(skipped("decode", ctx.mm_status, impl="mmaction2", preset=ctx.model.preset, batch=1))
    t = interleave(contenders, s.repeats, s.warmup, s.max_seconds, s.min_repeats)
    _record_pair(ctx, "decode", t, f"{len(ours['plan'].rgb_unique)} distinct sampled frames of one clip")


def run_preprocess(ctx: Context) -> None:
    s = ctx.settings
    from pcan_serve.preprocess import build_inputs

    cfg = ctx.model.config.preprocess
    ours = _ours(ctx)
    contenders = [Contender("pcan", lambda _: build_inputs(ours["frames"], ours["skeleton"], ours["plan"], cfg))]
    if ctx.mm_status is None:
        from .bench_preprocess import mm_annotation, mm_apply, mm_finish, mm_transforms

        transforms = mm_transforms(1, cfg.resize)
        decoded = mm_apply(mm_annotation(s.video, json.loads(Path(s.skeleton).read_text())), transforms[:2])
        contenders.append(
            Contender("mmaction2", lambda fresh: mm_finish(fresh, transforms), setup=lambda: copy.deepcopy(decoded))
        )
    else:
        ctx.results.add(skipped("preprocess", ctx.mm_status, impl="mmaction2", preset=ctx.model.preset, batch=1))
    t = interleave(contenders, s.repeats, s.warmup, s.max_seconds, s.min_repeats)
    _record_pair(ctx, "preprocess", t, "decoded frames in memory -> normalised imgs + heatmaps, one clip")
