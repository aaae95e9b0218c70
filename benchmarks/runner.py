"""Runs the selected stages with one set of weights and collects every record; a stage that cannot run
here (missing runtime, missing mmaction2, no GPU) leaves a skipped record with the reason instead."""

import dataclasses
import os
import shutil
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from .artifacts import prepare
from .backends import default_specs, parse
from .context import Context, Settings
from .records import STAGES, Results, skipped

NEEDS_SAMPLE = ("decode", "preprocess", "e2e", "http")  # the model stage falls back to random inputs


def _stage_runner(stage: str) -> Callable[[Context], None]:
    if stage == "decode":
        from .stage_io import run_decode

        return run_decode
    if stage == "preprocess":
        from .stage_io import run_preprocess

        return run_preprocess
    if stage == "model":
        from .stage_model import run_model

        return lambda ctx: run_model(ctx, ctx.extras["specs"])
    if stage == "e2e":
        from .stage_e2e import run_e2e

        return run_e2e
    if stage == "http":
        from .stage_http import run_http

        return run_http
    raise ValueError(f"unknown stage {stage!r}; choose from {', '.join(STAGES)}")


def _meta(settings: Settings, env: dict, device: str) -> dict:
    cfg = {k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(settings).items()}
    return {"settings": cfg, "device": device, "env": env}


def run(settings: Settings, log: Callable[[str], None] = print) -> Results:
    """Every stage of ``settings.stages``, in the canonical order; returns the results (not yet written)."""
    from pcan_serve.runtime import resolve_device

    from .env import environment
    from .flops import count_flops

    device = resolve_device(settings.device)
    specs = [parse(n, device) for n in settings.backends] if settings.backends else default_specs(device)
    env = environment()
    results = Results(meta=_meta(settings, env, device))
    if settings.quick and not settings.backends:
        for spec in [s for s in specs if s.runtime == "torch-compile"]:
            specs.remove(spec)
            results.add(
                skipped(
                    "model",
                    "not run in --quick: compiling takes tens of seconds per batch size on CPU "
                    "(name it in --backends to include it)",
                    backend=spec.runtime,
                    device=device,
                    precision=spec.precision,
                    preset=settings.preset,
                )
            )
    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="pcan-bench-"))
    try:
        bm = prepare(settings.preset, workdir, settings.checkpoint, settings.seed)
        ctx = Context(settings, env, bm, results, device, log=log, extras={"specs": specs})
        model_meta: dict = {"preset": bm.preset, "weights": bm.weights}
        try:
            flops = count_flops(bm.config)
            ctx.flops_per_clip = flops["flops_per_clip"]
            model_meta.update(flops)
        except Exception as exc:  # FLOP counting is context; the timings stand without it
            model_meta["flops_error"] = f"{type(exc).__name__}: {exc}"
        results.meta["model"] = model_meta
        missing = [str(p) for p in (settings.video, settings.skeleton) if not Path(p).is_file()]
        for stage in [s for s in STAGES if s in settings.stages]:
            if missing and stage in NEEDS_SAMPLE:
                results.add(
                    skipped(
                        stage,
                        f"input not found: {', '.join(missing)} (give --video/--skeleton or set PCAN_SAMPLE_DIR)",
                        preset=bm.preset,
                    )
                )
                continue
            log(f"stage {stage}")
            try:
                _stage_runner(stage)(ctx)
            except Exception as exc:
                log(traceback.format_exc())
                results.add(
                    skipped(stage, f"stage failed: {type(exc).__name__}: {exc}", status="failed", preset=bm.preset)
                )
        results.meta["notes"] = bm.notes
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    results.meta["duration_s"] = round(time.perf_counter() - started, 1)
    results.meta["loadavg_end"] = [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None
    return results
