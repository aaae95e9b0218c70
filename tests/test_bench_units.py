"""The benchmark harness's own logic: interleaving, statistics, peaks, skipped-stage reporting."""

import numpy as np
import pytest

from benchmarks.env import flops_per_cycle, gpu_peak, peak_gflops
from benchmarks.records import Results, compare, measured, skipped
from benchmarks.report import render_markdown, render_readme_section
from benchmarks.timing import Contender, interleave, paired_speedup, summarize


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


def test_flops_per_cycle_from_cpu_flags():
    assert flops_per_cycle({"avx512f", "avx2", "fma"})[0] == 64
    assert flops_per_cycle({"avx2", "fma", "avx"})[0] == 32
    assert flops_per_cycle({"avx"})[0] == 16
    assert flops_per_cycle(set())[0] == 8


@pytest.mark.parametrize(
    ("name", "variant"),
    [
        ("NVIDIA H100 80GB HBM3", "H100 SXM"),
        ("NVIDIA H100 PCIe", "H100 PCIe"),
        ("NVIDIA H100 NVL", "H100 NVL"),
        ("NVIDIA H200", "H200 SXM"),
        ("NVIDIA A100-SXM4-80GB", "A100"),
        ("NVIDIA A10", "A10"),
        ("NVIDIA L4", "L4"),
        ("NVIDIA L40S", "L40S"),
        ("Tesla T4", "T4"),
    ],
)
def test_gpu_peak_table_matches_the_right_sku(name, variant):
    found = gpu_peak(name)
    assert found is not None and found[0] == variant
    assert found[1]["fp16"] > found[1]["fp32"]


def test_peak_for_fp32_cuda_uses_tf32_when_cudnn_allows_it():
    env = {"gpu": {"peak_variant": "H100 SXM", "peak_tflops": gpu_peak("H100")[1], "cudnn_allow_tf32": True}}
    assert peak_gflops(env, "cuda", "fp32")[1].startswith("H100 SXM tf32")
    env["gpu"]["cudnn_allow_tf32"] = False
    assert peak_gflops(env, "cuda", "fp32")[0] == pytest.approx(66_900)
    assert peak_gflops({"cpu": {}}, "cpu", "fp32") is None


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
