"""Markdown from the JSON records: the full report (bench.md), the README's "Performance" section
(readme_section.md), and :func:`write_outputs`, which writes them with bench.json and the PNG plots."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

from .records import Results

Column = tuple[str, Callable[[dict[str, Any]], str]]


def _f(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}" if isinstance(value, float) else str(value)


def _x(value: Any) -> str:
    return "–" if value is None else f"{value:.2f}x"


def _table(columns: list[Column], recs: list[dict[str, Any]]) -> str:
    lines = ["| " + " | ".join(h for h, _ in columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    return "\n".join(lines + ["| " + " | ".join(get(r) for _, get in columns) + " |" for r in recs])


def _stats(digits: int = 1) -> list[Column]:
    cols: list[Column] = [(f"{k} ms", lambda r, k=k: _f(r[f"{k}_ms"], digits)) for k in ("median", "p95", "p99")]
    return cols + [("n", lambda r: str(r["n"]))]


STATS = _stats()
PARTS = ("decode", "pose", "preprocess", "inference")  # an end-to-end call's own split
E2E: list[Column] = [
    ("impl", lambda r: r["impl"]),
    ("backend", lambda r: r["backend"]),
    ("device", lambda r: f"{r['device']} {r['precision']}"),
    *STATS,
    ("videos/s", lambda r: _f(r["throughput"], 2)),
    *[(f"{k} ms", lambda r, k=k: _f(r.get("breakdown_ms", {}).get(k))) for k in PARTS],
    ("speed-up vs mmaction2", lambda r: _x(r.get("speedup"))),
    ("same top-5", lambda r: {None: "–", True: "yes", False: "NO"}[r.get("top5_match_mmaction2")]),
]
MODEL: list[Column] = [
    ("backend", lambda r: r["backend"]),
    ("device", lambda r: r["device"]),
    ("precision", lambda r: r["precision"]),
    ("batch", lambda r: str(r["batch"])),
    *STATS,
    ("clips/s", lambda r: _f(r["throughput"], 2)),
    ("speed-up vs torch-eager", lambda r: _x(r.get("speedup"))),
    ("GFLOP/s", lambda r: _f(r.get("achieved_gflops"))),
    ("of measured peak", lambda r: "–" if r.get("peak_fraction") is None else f"{100 * r['peak_fraction']:.1f} %"),
    ("max abs diff", lambda r: f"{r['max_abs_diff_vs_reference']:.1e}" if "max_abs_diff_vs_reference" in r else "–"),
]
IO: list[Column] = [
    ("stage", lambda r: r["stage"] + (f" ({r['part'].replace('_', ' ')})" if r.get("part") else "")),
    ("clips", lambda r: str(r.get("num_clips", 1))),
    ("impl", lambda r: r["impl"]),
    *_stats(2),
    ("speed-up vs mmaction2", lambda r: _x(r.get("speedup"))),
]
POSE: list[Column] = [
    ("part", lambda r: r.get("part", "")),
    ("backend", lambda r: r["backend"]),
    *_stats(1),
    ("per second", lambda r: f"{_f(r['throughput'], 1)} {r['throughput_unit']}"),
    ("extra ms vs skeleton", lambda r: _f(r.get("extra_ms_vs_skeleton"))),
]
HTTP: list[Column] = [
    ("concurrency", lambda r: str(r.get("concurrency", "–"))),
    ("backend", lambda r: r["backend"]),
    *STATS,
    ("errors", lambda r: str(r.get("errors", 0))),
    ("requests/s", lambda r: _f(r["throughput"], 2)),
]
LOAD: list[Column] = [
    ("clients", lambda r: str(r.get("concurrency"))),
    ("requests", lambda r: str(r.get("requests"))),
    ("valid: p50 ms", lambda r: _f(r["median_ms"])),
    ("valid: p95 ms", lambda r: _f(r["p95_ms"])),
    ("5xx on valid", lambda r: str(r.get("valid_5xx"))),
    ("answers off reference", lambda r: str(r.get("mismatches"))),
    ("unexpected status", lambda r: str(r.get("wrong_status"))),
    ("API RSS end / after 100 requests", lambda r: _f(r.get("rss_growth"), 2)),
]
OVERLOAD: list[Column] = [
    ("clients", lambda r: str(r.get("concurrency"))),
    ("200", lambda r: str(r.get("ok"))),
    ("200 p50 / p95 s", lambda r: f"{_f(r.get('ok_p50_s'))} / {_f(r.get('ok_p95_s'))}"),
    ("503 (p95 ms)", lambda r: f"{r.get('refused')} ({_f(r.get('refused_p95_ms'))})"),
    ("other", lambda r: str(r.get("other_statuses") or "none")),
    ("goodput / solo req/s", lambda r: f"{_f(r.get('goodput_rps'), 3)} / {_f(r.get('solo_rps'), 3)}"),
    ("peak RSS MiB", lambda r: _f(r.get("peak_rss_mib"), 0)),
]

EXECUTORS: list[Column] = [
    ("executor", lambda r: r["backend"]),
    ("batch", lambda r: str(r["batch"])),
    ("items", lambda r: str(r.get("items"))),
    ("wall s", lambda r: _f(r.get("wall_s"), 1)),
    ("items/s", lambda r: _f(r.get("items_per_s"), 2)),
    ("first row after s", lambda r: _f(r.get("first_row_s"), 1)),
    ("steady items/s", lambda r: _f(r.get("steady_items_per_s"), 2)),
]

WINDOWS: list[Column] = [
    ("decoding", lambda r: r["part"].replace("_", " ")),
    ("windows", lambda r: str(r.get("windows"))),
    ("frames asked of the decoder", lambda r: str(r.get("frames_requested"))),
    *_stats(1),
    ("speed-up vs per window", lambda r: _x(r.get("speedup"))),
]


def _model_recs(res: Results) -> list[dict[str, Any]]:
    return sorted(res.ok("model"), key=lambda r: (r["device"], r["backend"], r["precision"], r["batch"]))


def environment_line(meta: dict[str, Any]) -> str:
    env = meta.get("env", {})
    v, cpu, gpu = env.get("versions", {}), env.get("cpu", {}), env.get("gpu")
    ort = v.get("onnxruntime-gpu") or v.get("onnxruntime") or "–"
    hw = f"{cpu.get('model', '?')}, {cpu.get('cores', '?')} cores ({env.get('torch_threads', '?')} torch threads)"
    hw += f"; GPU {gpu['name']}" if gpu else ""
    sw = f"torch {v.get('torch', '–')}, onnxruntime {ort}, numpy {v.get('numpy', '–')}, python {v.get('python', '–')}"
    load = f"load average {env.get('loadavg_start')} -> {meta.get('loadavg_end')}"
    loads = [x[0] for x in (env.get("loadavg_start"), meta.get("loadavg_end")) if x]
    if loads and max(loads) > 1.25 * cpu.get("logical_cpus", 1):
        load += " (**busy machine: other processes competed for the CPUs; rerun when it is quiet**)"
    return f"{hw}. {sw}. {load}. Run {env.get('time', '')}, {meta.get('duration_s', '?')} s."


def flops_line(meta: dict[str, Any]) -> str:
    model = meta.get("model", {})
    if "flops_per_clip" not in model:
        return f"FLOPs per clip: not counted ({model.get('flops_error', 'unknown')})."
    kinds: dict[tuple[str, str], list[float]] = {}
    for p in meta.get("peaks", []):
        kinds.setdefault((f"{p['device']} {p['precision']}", p["method"]), []).append(p["gflops"])
    peaks = "; ".join(f"{what} {min(g):,.1f}-{max(g):,.1f} GFLOP/s ({how})" for (what, how), g in kinds.items())
    peaks = f" Peaks, timed in the same rounds as the forwards (range over batch sizes): {peaks}." if peaks else ""
    gflop = model["flops_per_clip"] / 1e9
    return f"FLOPs per clip ({model['preset']}): {gflop:.2f} GFLOP, measured with {model['method']}.{peaks}"


def skipped_lines(res: Results) -> list[str]:
    out = []
    for r in (r for r in res.records if r["status"] != "ok"):
        parts = (r["stage"], r.get("impl"), r.get("backend"), r.get("device"), r.get("precision"))
        what = " ".join(str(x) for x in (*parts, f"batch {r['batch']}" if r.get("batch") else "") if x)
        out.append(f"- {r['status']}: {what}: {r.get('reason', '')}")
    return out


def _sections(res: Results, readme: bool) -> list[str]:
    """The tables, titled as report sections (``## ...``) or as the README's lead-ins."""
    sections = [
        ("End to end: one video, one clip (`Predictor.predict` vs mmaction2 test pipeline + test_step)",
         "End to end, one video (NTU sample, 1920x1080, 103 frames), one clip:", E2E, res.ok("e2e")),
        ("Model forward (`Backend.run`, host arrays in, probabilities out)",
         "Model forward per backend and batch size:", MODEL, _model_recs(res)),
        ("Decode and preprocessing", None, IO, res.ok("decode") + res.ok("preprocess")),
        ("HTTP service", "HTTP `POST /predict` (`pcan serve`), one video per request:", HTTP, res.ok("http")),
        ("Pose estimation (video-only input: BlazePose on LiteRT)", "Pose estimation (video-only input):", POSE,
         res.ok("pose")),
        ("HTTP under hostile load (`--stages load`)", None, LOAD, res.ok("load")),
        ("HTTP past capacity (`--stages overload`)", None, OVERLOAD, res.ok("overload")),
        ("`pcan predict`: local vs Ray executor (`--stages executors`)", None, EXECUTORS, res.ok("executors")),
        ("Timeline inputs: one decode pass vs one per window (`--stages windows`)", None, WINDOWS, res.ok("windows")),
    ]  # fmt: skip
    out: list[str] = []
    for title, intro, cols, recs in sections:
        if recs and (intro or not readme):
            out += [intro if readme else f"## {title}", "", _table(cols, recs), ""]
    return out


def render_markdown(res: Results) -> str:
    meta = res.meta
    parts = [f"# pcan benchmark: {meta.get('model', {}).get('preset', '?')} on {meta.get('device', '?')}", ""]
    parts += [environment_line(meta), "", flops_line(meta), ""]
    if meta.get("model", {}).get("weights"):
        parts += [
            f"Weights: {meta['model']['weights']}. All latencies in milliseconds; contenders of one table section "
            "ran interleaved in the same rounds (after warm-up); speed-up = reference median / this median.",
            "",
        ]
    skips = skipped_lines(res)
    int8 = [f"- {line}" for line in int8_lines(res)]
    parts += _sections(res, readme=False) + (["## int8 against fp32", "", *int8, ""] if int8 else [])
    return "\n".join(parts + (["## Not measured here", "", *skips, ""] if skips else []))


def _best(res: Results, stage: str, impl: str = "pcan") -> dict[str, Any] | None:
    recs = [r for r in res.ok(stage) if r["impl"] == impl]
    return min(recs, key=lambda r: r["median_ms"]) if recs else None


def headline(res: Results) -> list[str]:
    """One-line findings: end-to-end speed-up over mmaction2, ORT/torch ratio, top-5 agreement."""
    lines = []
    mm = _best(res, "e2e", "mmaction2")
    for r in (r for r in res.ok("e2e") if r["impl"] == "pcan" and mm is not None):
        pace = f"{r['speedup']:.2f}x faster" if r["speedup"] >= 1 else f"{1 / r['speedup']:.2f}x slower"
        lines.append(
            f"End to end, pcan ({r['backend']}, {r['device']} {r['precision']}) takes {r['median_ms']:.0f} ms per "
            f"video against mmaction2's {mm['median_ms']:.0f} ms: {pace} (paired per round: "
            f"{r['paired_speedup']:.2f}x), top-5 {'identical' if r.get('top5_match_mmaction2') else 'DIFFERENT'}."
        )
    best = _best(res, "e2e")
    if best and best.get("breakdown_ms", {}).get("decode"):
        share = best["breakdown_ms"]["decode"] / best["median_ms"]
        lines.append(
            f"Decoding the sampled frames is {100 * share:.0f} % of pcan's fastest end-to-end time "
            f"({best['backend']}, {best['device']} {best['precision']})."
        )
    for r in (r for r in res.ok("model") if r["backend"] == "onnxruntime" and r.get("speedup")):
        kind = "onnxruntime" + ("" if r["precision"] == "fp32" else f" {r['precision']}")
        lines.append(
            f"Model forward at batch {r['batch']} ({r['device']}): {kind} / torch eager time = "
            f"{1 / r['speedup']:.2f} ({r['speedup']:.2f}x the torch-eager speed)."
        )
    return lines + int8_lines(res)


FULL_MODEL_HINT = (
    " The full model's convolutions are wider: `pcan bench --preset ntu60 --stages model --backends "
    "onnxruntime,onnxruntime-int8` profiles it the same way."
)


def int8_lines(res: Results) -> list[str]:
    """Why the int8 model is faster or slower than fp32 here, from both files' time per kind of node
    (``ort_profile``): where int8 gains, where it loses, and how much of fp32's convolution time the stems are."""
    profiled = {(r["precision"], r["batch"]): r for r in res.ok("model") if "node_ms" in r}
    lines = []
    for (precision, batch), q in sorted(profiled.items()):
        f = profiled.get(("fp32", batch))
        if precision != "int8" or f is None:
            continue
        a, b = f["node_ms"], q["node_ms"]
        diff = {k: b[k] - a[k] for k in a}
        gained = sum(d for d in diff.values() if d < 0)
        lost = sum(d for d in diff.values() if d > 0)
        gains = ", ".join(k for k in diff if diff[k] < 0) or "nothing"
        losses = ", ".join(k for k in diff if diff[k] > 0) or "nothing"
        stems = a["stem convolutions"] / max(a["stem convolutions"] + a["other convolutions"], 1e-9)
        channels = " and ".join(map(str, q.get("stem_out_channels", [])))
        per_kind = ", ".join(f"{k} {a[k]:.1f} -> {b[k]:.1f} ms" for k in a)
        lines.append(
            f"int8 vs fp32 (ONNX Runtime, CPU, batch {batch}): {f['median_ms']:.1f} -> {q['median_ms']:.1f} ms per "
            f"call. Per node (ONNX Runtime's profiler, median of 3 calls): {per_kind}. int8 gains in the {gains} "
            f"({gained:+.1f} ms) and loses in the {losses} ({lost:+.1f} ms); the two stems (the first convolution of "
            f"each pathway, {channels} output channels) are {100 * stems:.0f} % of fp32's convolution time here."
            + (FULL_MODEL_HINT if q["median_ms"] > f["median_ms"] and q.get("preset") != "ntu60" else "")
        )
    return lines


def command_line(meta: dict[str, Any]) -> str:
    """The `pcan bench` invocation that reproduces this run (options that differ from the defaults)."""
    s = meta.get("settings", {})
    if s.get("quick"):
        return "pcan bench --quick"
    parts = ["pcan bench", f"--preset {s.get('preset', 'ntu60')}"]
    parts += [f"--device {meta['device']}"] if meta.get("device") not in (None, "cpu") else []
    parts += ["--batch-sizes " + ",".join(map(str, s["batch_sizes"]))] if s.get("batch_sizes") else []
    parts += [f"--repeats {s['repeats']}"] if s.get("repeats") else []
    parts += ["--backends " + ",".join(s["backends"])] if s.get("backends") else []
    parts += ["--stages " + ",".join(s["stages"])] if s.get("stages") and len(s["stages"]) < 5 else []
    return " ".join(parts)


def render_readme_section(res: Results) -> str:
    """The README's "Performance" section: headline, the end-to-end and model tables, how to reproduce."""
    meta = res.meta
    parts = ["## Performance", "", f"Measured with `{command_line(meta)}` on {environment_line(meta)}", ""]
    parts += [*[f"- {line}" for line in headline(res)], "", flops_line(meta), ""]
    parts += _sections(res, readme=True)
    parts += [
        "Medians of interleaved runs after warm-up; p95/p99 from the same samples (few samples: p99 is close to "
        "the maximum). Reproduce with the command above (it writes JSON, Markdown and the plots to "
        "`benchmarks/results/`); `pcan bench --quick` is the one-minute smoke run on the tiny model.",
        "",
    ]
    return "\n".join(parts)


def write_outputs(results: Results, out: Path) -> list[Path]:
    """bench.json, bench.md, readme_section.md and the PNG plots, in ``out``."""
    from .plots import write_plots

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = [results.save(out / "bench.json"), out / "bench.md", out / "readme_section.md"]
    files[1].write_text(render_markdown(results))
    files[2].write_text(render_readme_section(results))
    return files + write_plots(results, out)
