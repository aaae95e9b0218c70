"""End to end, the ``pcan predict`` path (``Predictor.predict``: read + decode + preprocess + forward +
top-5) against mmaction2's test pipeline + ``model.test_step`` on the same video, same weights.

All contenders run interleaved in the same rounds. Each call's own split (decode / preprocess / inference)
is kept, so the stage breakdown comes from the timed calls, and the top-5 of every pcan backend is
checked against mmaction2's (late fusion 1:1 of the rgb and pose probabilities on both sides).
"""

import statistics
from collections.abc import Callable
from typing import Any

import numpy as np

from .backends import Unavailable, open_spec, parse
from .context import Context
from .records import compare, measured, skipped
from .timing import Contender, interleave

DEFAULTS = {"cpu": ("torch-eager", "onnxruntime"), "cuda": ("torch-eager-fp16", "torch-eager")}
PARTS = ("decode", "preprocess", "inference")


def _median_split(splits: list[dict[str, float]]) -> dict[str, float]:
    return {k: round(statistics.median(s[k] for s in splits), 3) for k in PARTS if splits and k in splits[0]}


def _pcan_call(predictor: Any, video: Any, skeleton: Any, keep: list) -> Callable[[Any], None]:
    def call(_: Any) -> None:
        out = predictor.predict(video, skeleton, top_k=5)
        keep.append(({k: out["timing_ms"][k] for k in PARTS}, out))

    return call


def _mm_call(mm: Any, video: Any, skeleton: Any, keep: list) -> Callable[[Any], None]:
    def call(_: Any) -> None:
        probs, split = mm.predict(video, skeleton)
        keep.append((split, probs))

    return call


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def run_e2e(ctx: Context, backend_names: tuple[str, ...] | None = None) -> None:
    from pcan_serve.runtime import Predictor

    s, preset, device = ctx.settings, ctx.model.preset, ctx.device
    names = backend_names or DEFAULTS["cuda" if device.startswith("cuda") else "cpu"]
    if s.quick and backend_names is None:
        for name in names[1:]:
            ctx.results.add(
                skipped(
                    "e2e",
                    "not run in --quick (each end-to-end call decodes the sample video)",
                    backend=parse(name, device).runtime,
                    device=device,
                    preset=preset,
                    batch=1,
                )
            )
        names = names[:1]
    kept: dict[str, list] = {}
    contenders, specs = [], {}
    for name in names:
        spec = parse(name, device)
        try:
            backend = open_spec(spec, ctx.model, 1)
        except Unavailable as exc:
            ctx.results.add(
                skipped(
                    "e2e",
                    str(exc),
                    backend=spec.runtime,
                    device=device,
                    precision=spec.precision,
                    preset=preset,
                    batch=1,
                )
            )
            continue
        key = f"pcan {spec.name}"
        specs[key] = spec
        kept[key] = []
        contenders.append(Contender(key, _pcan_call(Predictor(backend), s.video, s.skeleton, kept[key])))
    if device.startswith("cuda") and not _cuda():
        ctx.results.add(
            skipped("e2e", "torch sees no CUDA GPU here", impl="mmaction2", preset=preset, batch=1, device=device)
        )
    elif ctx.mm_status is not None:
        ctx.results.add(skipped("e2e", ctx.mm_status, impl="mmaction2", preset=preset, batch=1))
    else:
        from .mmaction_ref import MMPredictor

        ctx.log("e2e: building mmaction2's model and test pipeline")
        kept["mmaction2"] = []
        mm = MMPredictor(ctx.model.config, ctx.model.checkpoint, device=device)
        contenders.append(Contender("mmaction2", _mm_call(mm, s.video, s.skeleton, kept["mmaction2"])))
    ctx.log(f"e2e: {', '.join(c.name for c in contenders)}")
    t = interleave(contenders, s.repeats, s.warmup, s.max_seconds, s.min_repeats)
    recs = {}
    for key, samples in t.samples_ms.items():
        timed = kept[key][-len(samples) :]  # the warm-up calls came first
        impl = "mmaction2" if key == "mmaction2" else "pcan"
        spec = specs.get(key)
        rec = measured(
            "e2e",
            impl,
            spec.runtime if spec else "torch-eager",
            samples,
            batch=1,
            preset=preset,
            device=device,
            precision=spec.precision if spec else "fp32",
            unit="videos/s",
            first_call_ms=round(t.first_call_ms[key], 3),
            rounds=t.rounds,
            breakdown_ms=_median_split([split for split, _ in timed]),
        )
        recs[key] = rec
    mm_rec = recs.get("mmaction2")
    mm_probs = kept["mmaction2"][-1][1] if mm_rec else None
    for key, rec in recs.items():
        if key == "mmaction2":
            rec["top5"] = [int(i) for i in np.argsort(-mm_probs, kind="stable")[:5]]
            continue
        out = kept[key][-1][1]
        rec["top5"] = [item["label"] for item in out["top_k"]]
        if mm_rec is not None:
            compare(rec, mm_rec)
            mm_top5 = [int(i) for i in np.argsort(-mm_probs, kind="stable")[:5]]
            rec["top5_match_mmaction2"] = rec["top5"] == mm_top5
            rec["max_top5_score_diff_vs_mmaction2"] = max(
                abs(item["score"] - float(mm_probs[item["label"]])) for item in out["top_k"]
            )
    ctx.results.add(*recs.values())
    for key, why in t.failed.items():
        ctx.results.add(
            skipped(
                "e2e",
                why,
                impl="mmaction2" if key == "mmaction2" else "pcan",
                status="failed",
                backend=specs[key].runtime if key in specs else "torch-eager",
                preset=preset,
                batch=1,
                device=device,
            )
        )
