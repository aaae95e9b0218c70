"""`pcan bench --quick` end to end on the NTU sample: the statistics are those of the samples it kept, a speed-up is
the ratio of the two medians, the reports are rendered from the JSON it wrote, a row that did not run says why, and
the int8 row comes with the per-node profile that explains it (not the timings themselves)."""

import json
import os
import struct
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from benchmarks.cli import app as bench_app
from benchmarks.ort_profile import KINDS
from benchmarks.records import Results, label
from benchmarks.report import render_markdown, render_readme_section
from pcan_serve.cli import app as pcan_app

pytestmark = pytest.mark.slow  # the quick loop (-m 'not slow') leaves it out; make test runs it

runner = CliRunner()
COMMON_FIELDS = ("stage", "impl", "backend", "device", "precision", "batch", "preset", "status")
INT8_BOUND = 0.1  # max |Δp| of the int8 model vs torch fp32 on the clip it was calibrated on (measured: ~1e-2)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory, sample_video, sample_skeleton) -> Path:
    """`pcan bench --quick` through the `pcan` command it is mounted in."""
    out = tmp_path_factory.mktemp("bench")
    res = runner.invoke(
        pcan_app,
        ["bench", "--quick", "--out", str(out), "--video", str(sample_video), "--skeleton", str(sample_skeleton)],
        catch_exceptions=False,
    )
    assert res.exit_code == 0, res.output
    return out


def _records(run: Path) -> list[dict]:
    return json.loads((run / "bench.json").read_text())["records"]


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    return struct.unpack(">II", head[16:24])


def test_the_reports_are_rendered_from_the_json_and_the_plots_are_images(quick_run):
    data = json.loads((quick_run / "bench.json").read_text())
    res = Results(meta=data["meta"], records=data["records"])
    md, readme = (quick_run / "bench.md").read_text(), (quick_run / "readme_section.md").read_text()
    assert md == render_markdown(res) and readme == render_readme_section(res)
    assert "## End to end" in md and "## Model forward" in md and "## Not measured here" in md
    assert readme.startswith("## Performance") and "`pcan bench --quick`" in readme
    for name in ("latency_vs_batch.png", "stage_breakdown.png"):
        width, height = _png_size(quick_run / name)
        assert width > 200 and height > 100


def test_statistics_come_from_the_samples_and_the_environment_from_this_machine(quick_run):
    data = json.loads((quick_run / "bench.json").read_text())
    env = data["meta"]["env"]
    assert env["versions"]["torch"] == metadata.version("torch") and env["versions"]["numpy"] == np.__version__
    assert env["cpu"]["logical_cpus"] == len(os.sched_getaffinity(0))
    assert data["meta"]["model"]["flops_per_clip"] > 0
    records = data["records"]
    for rec in records:
        assert all(k in rec for k in COMMON_FIELDS), rec
        if rec["status"] == "ok":
            samples = rec["samples_ms"]
            assert rec["n"] == len(samples) >= 1
            assert rec["median_ms"] == pytest.approx(np.median(samples), abs=1e-3)
            assert rec["p95_ms"] == pytest.approx(np.percentile(samples, 95), abs=1e-3)
            items = rec.get("per_call") or rec["batch"]
            assert rec["throughput"] == pytest.approx(items * 1000 / rec["median_ms"], rel=1e-3, abs=1e-3)
    ok = {(r["stage"], r["impl"], r["backend"], r["batch"]) for r in records if r["status"] == "ok"}
    for batch in (1, 2):  # quick mode: batch 1 and 2 on both CPU runtimes
        assert ("model", "pcan", "torch-eager", batch) in ok
        assert ("model", "pcan", "onnxruntime", batch) in ok
    for stage in ("decode", "preprocess", "e2e"):
        assert (stage, "mmaction2") in {(s, i) for s, i, _, _ in ok}, stage


def test_a_speedup_is_the_ratio_of_the_medians_measured_in_the_same_rounds(quick_run):
    records = _records(quick_run)
    compared = [r for r in records if r.get("reference")]
    assert {r["stage"] for r in compared} >= {"model", "e2e", "decode", "preprocess"}
    for rec in compared:
        refs = [
            r
            for r in records
            if r["status"] == "ok" and label(r) == rec["reference"] and r["stage"] == rec["stage"]
            and r["batch"] == rec["batch"] and r.get("num_clips") == rec.get("num_clips")
        ]  # fmt: skip
        ratios = [round(ref["median_ms"] / rec["median_ms"], 3) for ref in refs]
        assert rec["speedup"] in ratios, (rec, ratios)  # a stage may time two parts against the same reference


def test_comparisons_are_recorded(quick_run):
    records = _records(quick_run)
    ort = [r for r in records if r["stage"] == "model" and r["backend"] == "onnxruntime" and r["status"] == "ok"]
    assert ort and all(r["reference"].startswith("pcan torch-eager") for r in ort)
    fp32, int8 = ([r for r in ort if r["precision"] == p] for p in ("fp32", "int8"))
    assert fp32 and all(r["max_abs_diff_vs_reference"] < 1e-4 for r in fp32)  # ORT computes what torch computes
    assert {r["batch"] for r in int8} == {1, 2}  # the int8 row, quantised by the export's own code
    assert all(1e-4 < r["max_abs_diff_vs_reference"] < INT8_BOUND for r in int8)  # rounded, not broken
    e2e = [r for r in records if r["stage"] == "e2e" and r["impl"] == "pcan" and r["status"] == "ok"]
    assert e2e
    for rec in e2e:
        assert rec["reference"].startswith("mmaction2")
        assert rec["top5_match_mmaction2"] is True  # same weights, same video: same answer as mmaction2
        assert set(rec["breakdown_ms"]) == {"decode", "pose", "preprocess", "inference"}


def test_what_quick_leaves_out_says_why(quick_run):
    records = _records(quick_run)
    reasons = {(r["stage"], r["backend"]): r["reason"] for r in records if r["status"] != "ok"}
    assert "compiling takes tens of seconds" in reasons[("model", "torch-compile")]
    assert "starting the BentoML server" in reasons[("http", "")]
    assert all("--quick" in why for why in reasons.values())
    assert not [r for r in records if r["stage"] == "http" and r["status"] == "ok"]
    md = (quick_run / "bench.md").read_text()
    assert all(why in md for why in reasons.values())


def test_the_int8_row_comes_with_the_profile_that_explains_it(quick_run):
    profiled = {r["precision"]: r for r in _records(quick_run) if "node_ms" in r}
    assert set(profiled) == {"fp32", "int8"} and {r["batch"] for r in profiled.values()} == {1}
    fp32, int8 = profiled["fp32"]["node_ms"], profiled["int8"]["node_ms"]
    assert set(fp32) == set(int8) == set(KINDS)
    assert fp32["quantise/dequantise"] == 0 < int8["quantise/dequantise"]  # only the int8 graph converts
    assert min(fp32["stem convolutions"], int8["stem convolutions"], fp32["other convolutions"]) > 0
    assert profiled["int8"]["stem_out_channels"] == [8, 4]  # the tiny preset's stems
    md = (quick_run / "bench.md").read_text()
    assert "## int8 against fp32" in md and "int8 gains in the" in md


def test_bad_options_are_usage_errors(tmp_path):
    res = runner.invoke(pcan_app, ["bench", "--quick", "--stages", "decode,nonsense", "--out", str(tmp_path)])
    assert res.exit_code == 2 and "nonsense" in res.output
    res = runner.invoke(
        pcan_app, ["bench", "--quick", "--backends", "tensorflow", "--stages", "model", "--out", str(tmp_path)]
    )
    assert res.exit_code == 2 and "tensorflow" in res.output
    res = runner.invoke(pcan_app, ["bench", "--quick", "--batch-sizes", "1,x", "--out", str(tmp_path)])
    assert res.exit_code == 2 and res.output.count("\n") == 1 and "'1,x'" in res.output
    assert not (tmp_path / "bench.json").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks a machine without a GPU")
def test_cuda_asked_for_without_a_gpu_is_refused_not_run_on_the_cpu(tmp_path):
    args = ["bench", "--quick", "--stages", "model", "--device", "cuda:0", "--out", str(tmp_path)]
    res = runner.invoke(pcan_app, args)
    assert res.exit_code == 2 and "torch sees no CUDA GPU" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "bench.json").exists()


def test_http_stage_measures_a_real_server(tmp_path, sample_video, sample_skeleton):
    args = ["bench", "--preset", "tiny", "--stages", "http", "--concurrencies", "1,2", "--repeats", "2"]
    args += ["--out", str(tmp_path), "--video", str(sample_video), "--skeleton", str(sample_skeleton)]
    res = runner.invoke(bench_app, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    records = [r for r in _records(tmp_path) if r["stage"] == "http"]
    assert [r["concurrency"] for r in records] == [1, 2]
    for rec in records:
        assert rec["status"] == "ok" and rec["errors"] == 0
        assert rec["n"] == max(2, 2 * rec["concurrency"]) and rec["throughput_unit"] == "requests/s"
        assert rec["throughput"] == pytest.approx(rec["n"] / rec["wall_s"], rel=0.02)  # completed per wall second
    _png_size(tmp_path / "http_latency.png")
    assert "## HTTP service" in (tmp_path / "bench.md").read_text()
