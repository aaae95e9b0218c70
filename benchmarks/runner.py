"""Runs the selected stages with one set of weights and collects every record; a stage that cannot run
here (missing runtime, missing mmaction2, no GPU) leaves a skipped record with the reason instead."""

import dataclasses
import importlib
import shutil
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from .artifacts import prepare
from .context import Context, Settings
from .records import STAGES, Results

NEEDS_SAMPLE = ("decode", "preprocess", "e2e", "http", "pose", "windows")  # the model stage falls back to random inputs
QUICK_SKIPS = {  # stages --quick leaves out, and why
    "http": "starting the BentoML server takes longer than the quick run",
    "load": "it sends thousands of requests",
    "executors": "each run is a fresh `pcan predict` process",
    "overload": "minutes of traffic at a real model",
}


def _stage(name: str) -> Callable[[Context], None]:
    """``benchmarks.stage_<name>.run``: one module per stage, imported only when it runs."""
    if name not in STAGES:
        raise ValueError(f"unknown stage {name!r}; choose from {', '.join(STAGES)}")
    return importlib.import_module(f"{__package__}.stage_{name}").run


def run(settings: Settings, log: Callable[[str], None] = print) -> Results:
    """Every stage of ``settings.stages``, in the canonical order; returns the results (not yet written)."""
    from pcan_serve.runtime import resolve_device

    from .env import environment, loadavg
    from .flops import count_flops

    device = resolve_device(settings.device)
    cfg = {k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(settings).items()}
    results = Results(meta={"settings": cfg, "device": device, "env": environment()})
    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="pcan-bench-"))
    try:
        bm = prepare(settings.preset, workdir, settings.checkpoint, settings.seed)
        ctx = Context(settings, results.meta["env"], bm, results, device, log=log)
        model_meta: dict = {"preset": bm.preset, "weights": bm.weights}
        try:
            model_meta.update(count_flops(bm.config))
            ctx.flops_per_clip = model_meta["flops_per_clip"]
        except Exception as exc:  # FLOP counting is context; the timings stand without it
            model_meta["flops_error"] = f"{type(exc).__name__}: {exc}"
        results.meta["model"] = model_meta
        missing = [str(p) for p in (settings.video, settings.skeleton) if not Path(p).is_file()]
        for stage in [s for s in STAGES if s in settings.stages]:
            if settings.quick and stage in QUICK_SKIPS:
                ctx.skip(stage, f"not run in --quick ({QUICK_SKIPS[stage]})")
                continue
            if missing and stage in NEEDS_SAMPLE:
                why = f"input not found: {', '.join(missing)} (give --video/--skeleton or set PCAN_SAMPLE_DIR)"
                ctx.skip(stage, why)
                continue
            log(f"stage {stage}")
            try:
                _stage(stage)(ctx)
            except Exception as exc:
                log(traceback.format_exc())
                ctx.skip(stage, f"stage failed: {type(exc).__name__}: {exc}", status="failed")
        results.meta["notes"] = bm.notes
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    results.meta["duration_s"] = round(time.perf_counter() - started, 1)
    results.meta["loadavg_end"] = loadavg()
    return results
