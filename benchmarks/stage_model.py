"""Model stage: forward per backend and batch size, host arrays in -> probabilities in host memory (as
serving calls ``Backend.run``; on CUDA the copies are part of the time), all backends in the same rounds.

Inputs are the preprocessed sample, repeated to the batch size. Each backend's last output is compared
with the reference backend's (torch eager on the same device): the timing of a backend that computes
something else would be worthless. FLOP/s are given against the peak measured in this run (:mod:`.peak`).
"""

from pathlib import Path
from typing import Any

import numpy as np

from export.verify import Case

from .backends import Spec, Unavailable, default_specs, open_spec, parse
from .context import Context
from .timing import Contender, why

REFERENCES = ("torch-eager", "torch-eager-fp16")  # the first one measured is every other's reference
PROFILED = {"onnxruntime": "fp32", "onnxruntime-int8": "int8"}  # profiled per node where both ran on the CPU


def sample_inputs(ctx: Context) -> tuple[dict[str, np.ndarray], str]:
    """The preprocessed sample (one clip), or seeded random inputs of the same shapes when it is missing."""
    s = ctx.settings
    if Path(s.video).is_file() and Path(s.skeleton).is_file():
        from pcan_serve.preprocess import make_inputs

        return make_inputs(s.video, s.skeleton, num_clips=1, config=ctx.model.config.preprocess), Path(s.video).name

    rng = np.random.default_rng(s.seed)
    imgs_shape, heat_shape = ctx.model.config.input_shapes(1)
    imgs, heatmaps = rng.standard_normal(imgs_shape, dtype=np.float32), rng.random(heat_shape, dtype=np.float32)
    return {"imgs": imgs, "heatmaps": heatmaps}, "random (sample video not found)"


def flops_fields(flops_per_clip: int, batch: int, median_ms: float, peak: dict | None) -> dict[str, Any]:
    achieved = flops_per_clip * batch / (median_ms / 1e3) / 1e9
    out: dict[str, Any] = {"gflops_per_clip": round(flops_per_clip / 1e9, 3), "achieved_gflops": round(achieved, 2)}
    if peak:
        out.update(
            peak_gflops=peak["gflops"], peak_kind=peak["method"], peak_fraction=round(achieved / peak["gflops"], 4)
        )
    return out


def _sgemms(ctx: Context, specs: list[Spec]) -> dict[str, Any]:
    """One peak contender per device and float precision timed (none without a FLOP count; int8 does integer
    arithmetic, which no float matmul peak bounds)."""
    from .peak import Sgemm

    out = {}
    timed = {(spec.device, spec.precision) for spec in specs if spec.precision != "int8"}
    for key in sorted(timed if ctx.flops_per_clip else ()):
        try:
            out["peak {} {}".format(*key)] = Sgemm(*key)
        except (ValueError, RuntimeError) as exc:  # no such peak here; the forwards are timed without it
            ctx.log(f"model: no {key[1]} peak on {key[0]}: {exc}")
    return out


def _max_diff(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> float:
    keys = [k for k in a if k in b]
    return max(float(np.abs(a[k] - b[k]).max()) for k in keys) if keys else float("nan")


def _profile(ctx: Context, recs: dict[str, dict[str, Any]], inputs: dict[str, np.ndarray], batch: int) -> None:
    """The per-node time of the fp32 and the int8 ONNX file at ``batch`` (``ort_profile``), on their records:
    where int8 gains or loses against fp32 (the report says it)."""
    if not all(name in recs and recs[name]["device"] == "cpu" for name in PROFILED):
        return
    from .ort_profile import node_ms

    ctx.log(f"model: profiling the fp32 and int8 ONNX files per node at batch {batch}")
    feeds = {k: np.repeat(inputs[k], batch, axis=0) for k in ("imgs", "heatmaps")}
    b = ctx.model.config.backbone
    for name, precision in PROFILED.items():
        recs[name]["node_ms"] = node_ms(ctx.model.onnx(precision), feeds)
        recs[name]["stem_out_channels"] = [b.rgb_base_channels, b.pose_base_channels]


def run(ctx: Context) -> None:
    s = ctx.settings
    specs = [parse(n, ctx.device) for n in s.backends] if s.backends else default_specs(ctx.device)
    if s.quick and not s.backends:
        reason = "not run in --quick: compiling takes tens of seconds per batch size on CPU (name it in --backends)"
        for spec in [x for x in specs if x.runtime == "torch-compile"]:
            specs.remove(spec)
            ctx.skip("model", reason, backend=spec.runtime, device=spec.device, precision=spec.precision)
    inputs, source = sample_inputs(ctx)
    calibration = [Case(source, inputs["imgs"], inputs["heatmaps"])]  # for an int8 export
    opened: dict[str, tuple[Spec, Any]] = {}
    for spec in specs:
        ctx.log(f"model: opening {spec.name} on {spec.device}")
        info = dict(backend=spec.runtime, device=spec.device, precision=spec.precision)
        try:
            opened[spec.name] = (spec, open_spec(spec, ctx.model, max(s.batch_sizes), calibration))
        except Unavailable as exc:
            ctx.skip("model", str(exc), **info)
        except Exception as exc:  # e.g. an engine build that fails: reported, the others still run
            ctx.skip("model", why(exc), status="failed", **info)
    sgemms = _sgemms(ctx, [spec for spec, _ in opened.values()])
    for batch in s.batch_sizes:
        imgs, heatmaps = (np.repeat(inputs[k], batch, axis=0) for k in ("imgs", "heatmaps"))
        last: dict[str, dict[str, np.ndarray]] = {}

        def call(name: str, backend: Any, last: dict = last, imgs: Any = imgs, heatmaps: Any = heatmaps) -> Any:
            return lambda _: last.__setitem__(name, backend.run(imgs, heatmaps))  # kept for the agreement check

        ctx.log(f"model: batch {batch}: {', '.join(opened)}")
        contenders = [Contender(name, call(name, backend)) for name, (_, backend) in opened.items()]
        t = ctx.time(contenders + [Contender(name, sgemm) for name, sgemm in sgemms.items()])  # same rounds
        for name in [n for n in sgemms if n in t.failed]:
            ctx.log(f"model: {name} dropped: {t.failed.pop(name)}")
            sgemms.pop(name)
        peaks = {name: sgemm.result(t.samples_ms.pop(name)) for name, sgemm in sgemms.items()}
        ctx.results.meta.setdefault("peaks", []).extend(dict(p, batch=batch) for p in peaks.values())

        def fields(name: str, batch: int = batch) -> dict[str, Any]:
            spec = opened[name][0]
            return dict(impl="pcan", backend=spec.runtime, device=spec.device, precision=spec.precision, batch=batch)

        reference = next((n for n in REFERENCES if n in t.samples_ms), None)
        recs = ctx.record("model", t, lambda n: {**fields(n), "inputs": source}, reference)
        for name, rec in recs.items():
            spec = opened[name][0]
            if ctx.flops_per_clip:
                peak = peaks.get(f"peak {spec.device} {spec.precision}")
                rec.update(flops_fields(ctx.flops_per_clip, batch, rec["median_ms"], peak))
            if reference is not None and name != reference:
                rec["max_abs_diff_vs_reference"] = _max_diff(last[name], last[reference])
        if batch == s.batch_sizes[0]:
            _profile(ctx, recs, inputs, batch)
        for name in t.failed:  # one that failed at this batch size is not retried at the next
            opened.pop(name)
