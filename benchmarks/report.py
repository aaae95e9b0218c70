"""Markdown from the JSON records: the full report (bench.md) and the shorter README section."""

from typing import Any

from .records import Results


def _f(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def _x(value: Any) -> str:
    return "–" if value is None else f"{value:.2f}x"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def environment_line(meta: dict[str, Any]) -> str:
    env = meta.get("env", {})
    v, cpu, gpu = env.get("versions", {}), env.get("cpu", {}), env.get("gpu")
    ort = v.get("onnxruntime-gpu") or v.get("onnxruntime") or "–"
    hw = f"{cpu.get('model', '?')}, {cpu.get('cores', '?')} cores ({env.get('torch_threads', '?')} torch threads)"
    if gpu:
        hw += f"; GPU {gpu['name']}"
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
    cpu = meta.get("env", {}).get("cpu", {})
    peak = ""
    if "peak_fp32_gflops_estimate" in cpu:
        peak = f" CPU fp32 peak {cpu['peak_fp32_gflops_estimate']} GFLOP/s is an {cpu['peak_note']}."
    gpu = meta.get("env", {}).get("gpu") or {}
    if gpu.get("peak_tflops"):
        peak += f" GPU peaks: {gpu['peak_note']}."
    return (
        f"FLOPs per clip ({model['preset']}): {model['flops_per_clip'] / 1e9:.2f} GFLOP, measured with "
        f"{model['method']}.{peak}"
    )


def e2e_rows(res: Results) -> list[list[str]]:
    rows = []
    for r in res.ok("e2e"):
        b = r.get("breakdown_ms", {})
        match = r.get("top5_match_mmaction2")
        rows.append(
            [
                r["impl"],
                r["backend"],
                f"{r['device']} {r['precision']}",
                _f(r["median_ms"]),
                _f(r["p95_ms"]),
                _f(r["p99_ms"]),
                str(r["n"]),
                _f(r["throughput"], 2),
                _f(b.get("decode")),
                _f(b.get("preprocess")),
                _f(b.get("inference")),
                _x(r.get("speedup")),
                "–" if match is None else ("yes" if match else "NO"),
            ]
        )
    return rows


E2E_HEADER = [
    "impl",
    "backend",
    "device",
    "median ms",
    "p95 ms",
    "p99 ms",
    "n",
    "videos/s",
    "decode ms",
    "preprocess ms",
    "inference ms",
    "speed-up vs mmaction2",
    "same top-5",
]


def model_rows(res: Results) -> list[list[str]]:
    rows = []
    for r in sorted(res.ok("model"), key=lambda r: (r["device"], r["backend"], r["precision"], r["batch"])):
        rows.append(
            [
                r["backend"],
                r["device"],
                r["precision"],
                str(r["batch"]),
                _f(r["median_ms"]),
                _f(r["p95_ms"]),
                _f(r["p99_ms"]),
                str(r["n"]),
                _f(r["throughput"], 2),
                _x(r.get("speedup")),
                _f(r.get("achieved_gflops")),
                "–" if r.get("peak_fraction") is None else f"{100 * r['peak_fraction']:.1f} %",
                f"{r['max_abs_diff_vs_reference']:.1e}" if "max_abs_diff_vs_reference" in r else "–",
            ]
        )
    return rows


MODEL_HEADER = [
    "backend",
    "device",
    "precision",
    "batch",
    "median ms",
    "p95 ms",
    "p99 ms",
    "n",
    "clips/s",
    "speed-up vs torch-eager",
    "GFLOP/s",
    "of peak",
    "max abs diff",
]


def io_rows(res: Results) -> list[list[str]]:
    return [
        [
            r["stage"],
            r["impl"],
            _f(r["median_ms"], 2),
            _f(r["p95_ms"], 2),
            _f(r["p99_ms"], 2),
            str(r["n"]),
            _x(r.get("speedup")),
        ]
        for st in ("decode", "preprocess")
        for r in res.ok(st)
    ]


HTTP_HEADER = ["concurrency", "backend", "median ms", "p95 ms", "p99 ms", "n", "errors", "requests/s"]


def http_rows(res: Results) -> list[list[str]]:
    return [
        [
            str(r.get("concurrency", "–")),
            r["backend"],
            _f(r["median_ms"]),
            _f(r["p95_ms"]),
            _f(r["p99_ms"]),
            str(r["n"]),
            str(r.get("errors", 0)),
            _f(r["throughput"], 2),
        ]
        for r in res.ok("http")
    ]


def skipped_lines(res: Results) -> list[str]:
    out = []
    for r in res.records:
        if r["status"] != "ok":
            what = " ".join(
                str(x)
                for x in (
                    r["stage"],
                    r.get("impl"),
                    r.get("backend"),
                    r.get("device"),
                    r.get("precision"),
                    f"batch {r['batch']}" if r.get("batch") else "",
                )
                if x
            )
            out.append(f"- {r['status']}: {what}: {r.get('reason', '')}")
    return out


def render_markdown(res: Results) -> str:
    meta = res.meta
    preset = meta.get("model", {}).get("preset", "?")
    parts = [
        f"# pcan benchmark: {preset} on {meta.get('device', '?')}",
        "",
        environment_line(meta),
        "",
        flops_line(meta),
        "",
    ]
    if meta.get("model", {}).get("weights"):
        parts += [
            f"Weights: {meta['model']['weights']}. All latencies in milliseconds; contenders of one table "
            "section ran interleaved in the same rounds (after warm-up); speed-up = reference median / "
            "this median.",
            "",
        ]
    sections = [
        (
            "End to end: one video, one clip (`Predictor.predict` vs mmaction2 test pipeline + test_step)",
            E2E_HEADER,
            e2e_rows(res),
        ),
        ("Model forward (`Backend.run`, host arrays in, probabilities out)", MODEL_HEADER, model_rows(res)),
        (
            "Decode and preprocessing, one clip",
            ["stage", "impl", "median ms", "p95 ms", "p99 ms", "n", "speed-up vs mmaction2"],
            io_rows(res),
        ),
        (
            "HTTP service",
            HTTP_HEADER,
            http_rows(res),
        ),
    ]
    for title, header, rows in sections:
        if rows:
            parts += [f"## {title}", "", _table(header, rows), ""]
    skips = skipped_lines(res)
    if skips:
        parts += ["## Not measured here", "", *skips, ""]
    return "\n".join(parts)


def _best(res: Results, stage: str, impl: str = "pcan") -> dict[str, Any] | None:
    recs = [r for r in res.ok(stage) if r["impl"] == impl]
    return min(recs, key=lambda r: r["median_ms"]) if recs else None


def headline(res: Results) -> list[str]:
    """One-line findings: end-to-end speed-up over mmaction2, ORT/torch ratio, top-5 agreement."""
    lines = []
    mm = _best(res, "e2e", "mmaction2")
    for r in res.ok("e2e"):
        if r["impl"] == "pcan" and mm is not None:
            pace = f"{r['speedup']:.2f}x faster" if r["speedup"] >= 1 else f"{1 / r['speedup']:.2f}x slower"
            lines.append(
                f"End to end, pcan ({r['backend']}, {r['device']} {r['precision']}) takes "
                f"{r['median_ms']:.0f} ms per video against mmaction2's {mm['median_ms']:.0f} ms: "
                f"{pace} (paired per round: {r['paired_speedup']:.2f}x), top-5 "
                f"{'identical' if r.get('top5_match_mmaction2') else 'DIFFERENT'}."
            )
    best = _best(res, "e2e")
    if best and best.get("breakdown_ms", {}).get("decode"):
        share = best["breakdown_ms"]["decode"] / best["median_ms"]
        lines.append(
            f"Decoding the sampled frames is {100 * share:.0f} % of pcan's fastest end-to-end time "
            f"({best['backend']}, {best['device']} {best['precision']})."
        )
    for r in res.ok("model"):
        if r["backend"] == "onnxruntime" and r.get("speedup"):
            lines.append(
                f"Model forward at batch {r['batch']} ({r['device']}): onnxruntime / torch eager time = "
                f"{1 / r['speedup']:.2f} "
                f"({r['speedup']:.2f}x the torch-eager speed)."
            )
    return lines


def command_line(meta: dict[str, Any]) -> str:
    """The `pcan bench` invocation that reproduces this run (options that differ from the defaults)."""
    s = meta.get("settings", {})
    if s.get("quick"):
        return "pcan bench --quick"
    parts = ["pcan bench", f"--preset {s.get('preset', 'ntu60')}"]
    if meta.get("device") and meta["device"] != "cpu":
        parts.append(f"--device {meta['device']}")
    if s.get("batch_sizes"):
        parts.append("--batch-sizes " + ",".join(str(b) for b in s["batch_sizes"]))
    if s.get("repeats"):
        parts.append(f"--repeats {s['repeats']}")
    if s.get("backends"):
        parts.append("--backends " + ",".join(s["backends"]))
    return " ".join(parts)


def render_readme_section(res: Results) -> str:
    """The README's "Performance" section: headline, the end-to-end and model tables, how to reproduce."""
    meta = res.meta
    parts = [
        "## Performance",
        "",
        f"Measured with `{command_line(meta)}` on {environment_line(meta)}",
        "",
        *[f"- {line}" for line in headline(res)],
        "",
        flops_line(meta),
        "",
    ]
    if e2e_rows(res):
        parts += [
            "End to end, one video (NTU sample, 1920x1080, 103 frames), one clip:",
            "",
            _table(E2E_HEADER, e2e_rows(res)),
            "",
        ]
    if model_rows(res):
        parts += ["Model forward per backend and batch size:", "", _table(MODEL_HEADER, model_rows(res)), ""]
    if http_rows(res):
        parts += [
            "HTTP `POST /predict` (`pcan serve`), one video per request:",
            "",
            _table(HTTP_HEADER, http_rows(res)),
            "",
        ]
    parts += [
        "Medians of interleaved runs after warm-up; p95/p99 from the same samples (few samples: p99 is "
        "close to the maximum). Reproduce with the command above (it writes JSON, Markdown and the plots to "
        "`benchmarks/results/`); `pcan bench --quick` is the one-minute smoke run on the tiny model.",
        "",
    ]
    return "\n".join(parts)
