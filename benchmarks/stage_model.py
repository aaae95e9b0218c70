"""Model forward per backend and batch size: ``Backend.run`` (inputs in host memory -> probabilities in
host memory, as serving calls it), every backend interleaved in the same rounds.

Inputs are the preprocessed NTU sample, repeated to the batch size. Each backend's last output is kept
and compared with the reference backend's (torch eager on the same device, fp32 if run): the timing of a
backend that computes something else would be worthless.
"""

from pathlib import Path
from typing import Any

import numpy as np

from .backends import Spec, Unavailable, open_spec
from .context import Context
from .env import peak_gflops
from .records import compare, measured, skipped
from .timing import Contender, interleave

REFERENCES = ("torch-eager", "torch-eager-fp16")  # the first one measured is every other's reference


def sample_inputs(ctx: Context) -> tuple[dict[str, np.ndarray], str]:
    """The preprocessed sample (one clip), or seeded random inputs of the same shapes when it is missing."""
    s = ctx.settings
    if Path(s.video).is_file() and Path(s.skeleton).is_file():
        from pcan_serve.preprocess import make_inputs

        return make_inputs(s.video, s.skeleton, num_clips=1, config=ctx.model.config.preprocess), Path(s.video).name
    from .flops import input_shapes

    rng = np.random.default_rng(s.seed)
    imgs_shape, heat_shape = input_shapes(ctx.model.config, 1)
    inputs = {
        "imgs": rng.standard_normal(imgs_shape, dtype=np.float32),
        "heatmaps": rng.random(heat_shape, dtype=np.float32),
    }
    return inputs, "random (sample video not found)"


def _flops_fields(ctx: Context, spec: Spec, batch: int, median_ms: float) -> dict[str, Any]:
    if not ctx.flops_per_clip:
        return {}
    achieved = ctx.flops_per_clip * batch / (median_ms / 1e3) / 1e9
    out: dict[str, Any] = {"gflops_per_clip": round(ctx.flops_per_clip / 1e9, 3), "achieved_gflops": round(achieved, 2)}
    peak = peak_gflops(ctx.env, spec.device, spec.precision)
    if peak:
        out.update(peak_gflops=round(peak[0], 1), peak_kind=peak[1], peak_fraction=round(achieved / peak[0], 4))
    return out


def _max_diff(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> float:
    keys = [k for k in a if k in b]
    return max(float(np.abs(a[k] - b[k]).max()) for k in keys) if keys else float("nan")


def _keeping(sink: dict, name: str, backend: Any, imgs: np.ndarray, heatmaps: np.ndarray) -> Any:
    """A timed call that keeps its output in ``sink[name]`` for the agreement check."""
    return lambda _: sink.__setitem__(name, backend.run(imgs, heatmaps))


def run_model(ctx: Context, specs: list[Spec]) -> None:
    s = ctx.settings
    preset = ctx.model.preset
    inputs, source = sample_inputs(ctx)
    opened: dict[str, tuple[Spec, Any]] = {}
    for spec in specs:
        ctx.log(f"model: opening {spec.name} on {spec.device}")
        try:
            opened[spec.name] = (spec, open_spec(spec, ctx.model, max(s.batch_sizes)))
        except Unavailable as exc:
            ctx.results.add(
                skipped(
                    "model", str(exc), backend=spec.runtime, device=spec.device, precision=spec.precision, preset=preset
                )
            )
        except Exception as exc:  # e.g. an engine build that fails: reported, the others still run
            ctx.results.add(
                skipped(
                    "model",
                    f"{type(exc).__name__}: {exc}",
                    backend=spec.runtime,
                    status="failed",
                    device=spec.device,
                    precision=spec.precision,
                    preset=preset,
                )
            )
    for batch in s.batch_sizes:
        imgs = np.repeat(inputs["imgs"], batch, axis=0)
        heatmaps = np.repeat(inputs["heatmaps"], batch, axis=0)
        last: dict[str, dict[str, np.ndarray]] = {}

        contenders = [
            Contender(name, _keeping(last, name, backend, imgs, heatmaps)) for name, (_, backend) in opened.items()
        ]
        ctx.log(f"model: batch {batch}: {', '.join(opened)}")
        t = interleave(contenders, s.repeats, s.warmup, s.max_seconds, s.min_repeats)
        recs = {}
        for name, samples in t.samples_ms.items():
            spec = opened[name][0]
            rec = measured(
                "model",
                "pcan",
                spec.runtime,
                samples,
                batch=batch,
                preset=preset,
                device=spec.device,
                precision=spec.precision,
                first_call_ms=round(t.first_call_ms[name], 3),
                rounds=t.rounds,
                stopped_by_budget=t.stopped_by_budget,
            )
            rec.update(_flops_fields(ctx, spec, batch, rec["median_ms"]))
            recs[name] = rec
        ref_name = next((n for n in REFERENCES if n in recs), None)
        for name, rec in recs.items():
            if ref_name is not None and name != ref_name:
                compare(rec, recs[ref_name])
                rec["max_abs_diff_vs_reference"] = _max_diff(last[name], last[ref_name])
        ctx.results.add(*recs.values())
        for name, why in t.failed.items():
            spec = opened.pop(name)[0]  # one that failed at this batch size is not retried at the next
            ctx.results.add(
                skipped(
                    "model",
                    why,
                    backend=spec.runtime,
                    status="failed",
                    batch=batch,
                    device=spec.device,
                    precision=spec.precision,
                    preset=preset,
                )
            )
    opened.clear()
