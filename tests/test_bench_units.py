"""The benchmark harness's own logic: interleaving, concurrency, statistics, the measured peak, reports."""

import numpy as np
import pytest

from benchmarks.backends import DEFAULTS, Unavailable, open_spec, parse
from benchmarks.ort_profile import KINDS, node_ms
from benchmarks.peak import measure_peak
from benchmarks.records import Results, compare, measured, skipped
from benchmarks.report import int8_lines, render_markdown, render_readme_section
from benchmarks.timing import Contender, concurrent, interleave, paired_speedup, summarize
from pcan_serve import load_model


def test_interleave_rotates_the_order_each_round():
    calls: list[str] = []
    contenders = [Contender(n, lambda _, n=n: calls.append(n)) for n in "abc"]
    t = interleave(contenders, repeats=3, warmup=1)
    assert calls[:3] == ["a", "b", "c"]  # warm-up, one each
    assert calls[3:] == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]
    assert t.rounds == 3 and all(len(v) == 3 for v in t.samples_ms.values())


def test_interleave_drops_a_failing_contender_with_its_reason():
    def broken(_):
        raise RuntimeError("no GPU here")

    t = interleave([Contender("ok", lambda _: None), Contender("bad", broken)], repeats=4)
    assert set(t.samples_ms) == {"ok"} and len(t.samples_ms["ok"]) == 4
    assert "no GPU here" in t.failed["bad"]


def test_interleave_budget_stops_after_min_repeats():
    t = interleave([Contender("slow", lambda _: sum(range(20000)))], repeats=50, warmup=0, budget_s=0.0, min_repeats=3)
    assert t.rounds == 3 and t.stopped_by_budget


def test_setup_is_not_timed_and_feeds_each_call():
    seen = []
    t = interleave([Contender("x", seen.append, setup=lambda: len(seen))], repeats=3, warmup=1)
    assert seen == [0, 1, 2, 3] and len(t.samples_ms["x"]) == 3


def test_summary_statistics_follow_numpy():
    rng = np.random.default_rng(0)
    samples = list(rng.gamma(2.0, 10.0, size=200))
    s = summarize(samples)
    assert s["n"] == 200
    assert s["median_ms"] == pytest.approx(np.median(samples), abs=1e-3)
    assert s["p99_ms"] == pytest.approx(np.percentile(samples, 99), abs=1e-3)
    assert s["min_ms"] <= s["median_ms"] <= s["p95_ms"] <= s["p99_ms"] <= s["max_ms"]


def test_paired_speedup_cancels_common_drift():
    drift = np.linspace(1.0, 5.0, 9)  # the machine slows down 5x over the run
    reference, candidate = list(100 * drift), list(50 * drift)
    assert paired_speedup(reference, candidate) == pytest.approx(2.0)


def test_concurrent_runs_every_call_once_and_counts_errors():
    seen: list[int] = []

    def call():
        seen.append(1)
        if len(seen) % 4 == 0:
            raise RuntimeError("HTTP 503")

    latencies, errors, wall_s = concurrent(call, concurrency=3, total=12)
    assert len(seen) == 12 and len(latencies) == 9 and len(errors) == 3
    assert all("HTTP 503" in e for e in errors) and wall_s > 0


def test_peak_is_measured_not_looked_up():
    peak = measure_peak("cpu", "fp32", size=256, repeats=3)
    assert peak["gflops"] > 0 and peak["median_ms"] > 0
    assert "torch.mm 256x256 fp32" in peak["method"] and peak["n"] == 3
    with pytest.raises(ValueError):
        measure_peak("cpu", "fp16")  # the CPU is measured in fp32 only


def test_backend_names_parse_to_runtime_and_precision():
    spec = parse("torch-eager-tf32", "cuda")
    assert (spec.runtime, spec.precision, spec.name) == ("torch-eager", "tf32", "torch-eager-tf32")
    assert parse("torch-eager-fp16", "cuda").serving and not parse("torch-eager", "cuda").serving
    assert parse("torch-eager", "cpu").serving and not parse("torch-compile", "cpu").serving
    with pytest.raises(ValueError, match="tensorflow"):
        parse("tensorflow", "cpu")


def test_int8_fp16_and_channels_last_rows_run_only_where_they_belong():
    assert not parse("torch-eager-cl-fp16", "cuda").serving  # a candidate, timed beside serving's torch-eager-fp16
    spec = parse("onnxruntime-int8", "cpu")
    assert (spec.runtime, spec.precision, spec.serving) == ("onnxruntime", "int8", True)
    assert "onnxruntime-int8" in DEFAULTS["cpu"] and "onnxruntime-fp16" in DEFAULTS["cuda"]
    for name, device, why in (
        ("onnxruntime-int8", "cuda", "int8"),
        ("torch-eager-int8", "cpu", "int8"),
        ("onnxruntime-fp16", "cpu", "only benchmarked on CUDA"),
        ("onnxruntime-tf32", "cuda", "fp32"),
        ("torch-eager-cl", "cpu", "channels-last 3D already"),
    ):
        with pytest.raises(Unavailable, match=why):
            open_spec(parse(name, device), bm=None, max_batch=1)  # refused before any model is made


def test_reports_show_comparisons_and_skip_reasons():
    res = Results(meta={"model": {"preset": "tiny", "weights": "random (seed 0)"}, "device": "cpu"})
    mm = measured("e2e", "mmaction2", "torch-eager", [300.0, 310.0, 305.0], batch=1, preset="tiny", unit="videos/s")
    ours = measured(
        "e2e",
        "pcan",
        "onnxruntime",
        [100.0, 101.0, 99.0],
        batch=1,
        preset="tiny",
        unit="videos/s",
        breakdown_ms={"decode": 60.0, "preprocess": 10.0, "inference": 30.0},
        top5_match_mmaction2=True,
    )
    compare(ours, mm)
    res.add(ours, mm, skipped("model", "TensorRT is not installed", backend="tensorrt", device="cuda"))
    assert ours["speedup"] == pytest.approx(305.0 / 100.0, abs=1e-3)
    md = render_markdown(res)
    assert "3.05x" in md and "TensorRT is not installed" in md
    section = render_readme_section(res)
    assert "3.05x faster" in section and "identical" in section


def test_int8_report_says_where_int8_gains_and_loses():
    """The explanation is computed from the two per-node profiles, not written in advance."""
    res = Results(meta={"model": {"preset": "tiny"}, "device": "cpu"})
    profiles = {
        "fp32": {"stem convolutions": 18.0, "other convolutions": 2.0, "quantise/dequantise": 0.0, "other nodes": 1.0},
        "int8": {"stem convolutions": 40.0, "other convolutions": 1.5, "quantise/dequantise": 0.5, "other nodes": 1.0},
    }
    for precision, ms in (("fp32", 21.0), ("int8", 43.0)):
        rec = measured("model", "pcan", "onnxruntime", [ms], batch=1, preset="tiny", precision=precision)
        res.add(dict(rec, node_ms=profiles[precision], stem_out_channels=[8, 4]))
    [line] = int8_lines(res)
    assert "21.0 -> 43.0 ms per call" in line and "stem convolutions 18.0 -> 40.0 ms" in line
    assert "gains in the other convolutions (-0.5 ms)" in line
    assert "loses in the stem convolutions, quantise/dequantise (+22.5 ms)" in line
    assert "8 and 4 output channels) are 90 % of fp32's convolution time" in line and "--preset ntu60" in line
    assert "## int8 against fp32" in render_markdown(res) and line in render_readme_section(res)


def test_node_profile_splits_stems_from_the_other_convolutions(tmp_path):
    from export import OnnxExportOptions, export_verified_onnx
    from export.verify import random_case

    path = export_verified_onnx(OnnxExportOptions(output=tmp_path / "m.onnx", preset="tiny", verify=False)).path
    case = random_case(load_model(None, preset="tiny")[1].config, 1)
    ms = node_ms(path, {"imgs": case.imgs, "heatmaps": case.heatmaps}, runs=1)
    assert set(ms) == set(KINDS) and ms["quantise/dequantise"] == 0  # an fp32 graph converts nothing
    assert ms["stem convolutions"] > 0 and ms["other convolutions"] > 0
    assert not list(tmp_path.glob("*.json"))  # the profiler's trace is removed


def test_the_overload_summary_and_its_report_row():
    from benchmarks.stage_overload import Answer, summary

    answers = [Answer(200, s) for s in (2.0, 4.0, 6.0)] + [Answer(503, 0.1, 3.0)] * 19 + [Answer("ReadError", 1.0)]
    figures = summary(answers, wall_s=10.0, solo_rps=0.5)
    assert (figures["ok"], figures["ok_p50_s"], figures["ok_p95_s"], figures["refused"]) == (3, 4.0, 5.8, 19)
    assert figures["refused_p95_ms"] == 100.0 and figures["other_statuses"] == {"ReadError": 1}
    assert (figures["goodput_rps"], figures["goodput_vs_solo"]) == (0.3, 0.6)
    rec = measured("overload", "pcan", "bentoml", [2000.0, 4000.0, 6000.0], batch=1, preset="tiny", **figures)
    text = render_markdown(Results(meta={}, records=[rec]))
    assert "HTTP past capacity" in text and "| 3 | 4.0 / 5.8 | 19 (100.0) | {'ReadError': 1} | 0.300 / 0.500 |" in text
