"""End-to-end stage: the ``pcan predict`` path (``Predictor.predict``: read + decode + preprocess + forward
+ top-5) against mmaction2's test pipeline + ``model.test_step`` (``MMPredictor``), same video, same weights.

All contenders run interleaved in the same rounds. Each call's own split (decode / preprocess / inference)
is kept, so the stage breakdown comes from the timed calls, and the top-5 of every pcan backend is checked
against mmaction2's (late fusion 1:1 of the rgb and pose probabilities on both sides).
"""

import statistics
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from .backends import Unavailable, open_predictor, parse
from .context import Context, Settings
from .report import PARTS
from .timing import Contender, why

DEFAULTS = {"cpu": ("torch-eager", "onnxruntime"), "cuda": ("torch-eager-fp16", "onnxruntime")}
VIDEO_ONLY = "pcan {} video-only"  # the same backend without a skeleton: what estimating it adds


def _median_split(splits: list[dict[str, float]]) -> dict[str, float]:
    return {k: round(statistics.median(s[k] for s in splits), 3) for k in PARTS if splits and k in splits[0]}


def _top5(probs: np.ndarray) -> list[int]:
    return [int(i) for i in np.argsort(-probs, kind="stable")[:5]]


def _ours(predictor: Any, s: Settings, sink: list, video_only: bool = False) -> Callable[[Any], None]:
    """``video_only``: no skeleton given, so pcan estimates it (the pose estimator's cost is in the split)."""

    def call(_: Any) -> None:
        out = predictor.predict(s.video, None if video_only else s.skeleton, top_k=5).to_dict()
        sink.append(({k: out["timing_ms"][k] for k in PARTS}, out))

    return call


def _theirs(mm: Any, s: Settings, sink: list) -> Callable[[Any], None]:
    def call(_: Any) -> None:
        probs, split = mm.predict(s.video, s.skeleton)
        sink.append((split, probs))

    return call


def run(ctx: Context) -> None:
    s, device = ctx.settings, ctx.device
    names = DEFAULTS["cuda" if device.startswith("cuda") else "cpu"]
    if s.quick:
        for name in names[1:]:
            reason = "not run in --quick (each end-to-end call decodes the sample video)"
            ctx.skip("e2e", reason, backend=parse(name, device).runtime, device=device, batch=1)
        names = names[:1]
    kept: dict[str, list] = {}  # contender -> [(split, output)] of every call, warm-up first
    contenders, fields = [], {}
    for name in names:
        spec = parse(name, device)
        key = f"pcan {spec.name}"
        fields[key] = dict(impl="pcan", backend=spec.runtime, device=device, precision=spec.precision, batch=1)
        try:
            predictor = open_predictor(spec, ctx.model, 1)
            contenders.append(Contender(key, _ours(predictor, s, kept.setdefault(key, []))))
        except Unavailable as exc:
            ctx.skip("e2e", str(exc), **fields[key])
            continue
        if name == names[0] and not s.quick:
            alone = VIDEO_ONLY.format(spec.name)
            fields[alone] = dict(fields[key], impl="pcan video-only")
            contenders.append(Contender(alone, _ours(predictor, s, kept.setdefault(alone, []), video_only=True)))
    fields["mmaction2"] = dict(impl="mmaction2", backend="torch-eager", device=device, precision="fp32", batch=1)
    no_gpu = device.startswith("cuda") and not torch.cuda.is_available()
    if ctx.mm_status is not None or no_gpu:
        ctx.skip("e2e", ctx.mm_status or "torch sees no CUDA GPU here", **fields["mmaction2"])
    else:
        from training.mm_reference import MMPredictor

        ctx.log("e2e: building mmaction2's model and test pipeline")
        try:
            mm = MMPredictor(ctx.model.config, ctx.model.checkpoint, device=device)
            contenders.append(Contender("mmaction2", _theirs(mm, s, kept.setdefault("mmaction2", []))))
        except Exception as exc:  # reported; pcan's side still runs
            ctx.skip("e2e", why(exc), status="failed", **fields["mmaction2"])
    ctx.log(f"e2e: {', '.join(c.name for c in contenders)}")
    t = ctx.time(contenders)

    def record_fields(key: str) -> dict[str, Any]:
        timed = kept[key][-len(t.samples_ms.get(key, [])) :] if key in t.samples_ms else []
        return dict(fields[key], unit="videos/s", breakdown_ms=_median_split([split for split, _ in timed]))

    recs = ctx.record("e2e", t, record_fields, reference="mmaction2")
    mm_probs = kept["mmaction2"][-1][1] if "mmaction2" in recs else None
    for key, rec in recs.items():
        if key == "mmaction2":
            rec["top5"] = _top5(mm_probs)
            continue
        out = kept[key][-1][1]
        rec["top5"] = [item["label"] for item in out["top_k"]]
        if mm_probs is not None and rec["impl"] != "pcan video-only":  # another skeleton: answers may differ
            rec["top5_match_mmaction2"] = rec["top5"] == _top5(mm_probs)
            diffs = [abs(item["score"] - float(mm_probs[item["label"]])) for item in out["top_k"]]
            rec["max_top5_score_diff_vs_mmaction2"] = max(diffs)
