"""`pcan bench --quick` end to end on the NTU sample: every output file and field exists (not timings)."""

import json
import struct
from pathlib import Path

import pytest
from typer.testing import CliRunner

from benchmarks.cli import app as bench_app
from pcan_serve.cli import app as pcan_app

runner = CliRunner()
STAT_FIELDS = ("median_ms", "p95_ms", "p99_ms", "n", "throughput", "throughput_unit", "samples_ms")
COMMON_FIELDS = ("stage", "impl", "backend", "device", "precision", "batch", "preset", "status")
INT8_BOUND = 0.1  # max |Δp| of the int8 model vs torch fp32 on the clip it was calibrated on (measured: ~1e-2)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory, sample_video, sample_skeleton) -> Path:
    out = tmp_path_factory.mktemp("bench")
    res = runner.invoke(
        bench_app,
        ["bench", "--quick", "--out", str(out), "--video", str(sample_video), "--skeleton", str(sample_skeleton)],
        catch_exceptions=False,
    )
    assert res.exit_code == 0, res.output
    return out


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    return struct.unpack(">II", head[16:24])


def test_writes_json_markdown_and_plots(quick_run):
    for name in ("bench.json", "bench.md", "readme_section.md"):
        assert (quick_run / name).stat().st_size > 0
    for name in ("latency_vs_batch.png", "stage_breakdown.png"):
        width, height = _png_size(quick_run / name)
        assert width > 200 and height > 100


def test_json_records_and_environment(quick_run):
    data = json.loads((quick_run / "bench.json").read_text())
    env = data["meta"]["env"]
    assert env["versions"]["torch"] and env["versions"]["numpy"]
    assert env["cpu"]["cores"] >= 1 and env["cpu"]["model"]
    assert data["meta"]["model"]["flops_per_clip"] > 0
    records = data["records"]
    for rec in records:
        assert all(k in rec for k in COMMON_FIELDS), rec
        if rec["status"] == "ok":
            assert all(k in rec for k in STAT_FIELDS), rec
            assert rec["n"] == len(rec["samples_ms"]) >= 1
            assert rec["median_ms"] <= rec["p95_ms"] <= rec["p99_ms"] <= max(rec["samples_ms"])
        else:
            assert rec["reason"], rec
    ok = {(r["stage"], r["impl"], r["backend"], r["batch"]) for r in records if r["status"] == "ok"}
    for batch in (1, 2):  # quick mode: batch 1 and 2 on both CPU runtimes
        assert ("model", "pcan", "torch-eager", batch) in ok
        assert ("model", "pcan", "onnxruntime", batch) in ok
    for stage in ("decode", "preprocess", "e2e"):
        assert (stage, "mmaction2") in {(s, i) for s, i, _, _ in ok}, stage
    compile_rec = next(r for r in records if r["backend"] == "torch-compile")
    assert compile_rec["status"] == "skipped" and "--quick" in compile_rec["reason"]
    assert any(r["stage"] == "http" for r in records)  # measured or skipped with its reason


def test_comparisons_are_recorded(quick_run):
    records = json.loads((quick_run / "bench.json").read_text())["records"]
    ort = [r for r in records if r["stage"] == "model" and r["backend"] == "onnxruntime" and r["status"] == "ok"]
    assert ort and all(r["reference"].startswith("pcan torch-eager") and r["speedup"] > 0 for r in ort)
    fp32, int8 = ([r for r in ort if r["precision"] == p] for p in ("fp32", "int8"))
    assert fp32 and all(r["max_abs_diff_vs_reference"] < 1e-4 for r in fp32)  # ORT computes what torch computes
    assert {r["batch"] for r in int8} == {1, 2}  # the int8 row, quantised by the export's own code
    assert all(1e-4 < r["max_abs_diff_vs_reference"] < INT8_BOUND for r in int8)  # rounded, not broken
    e2e = [r for r in records if r["stage"] == "e2e" and r["impl"] == "pcan" and r["status"] == "ok"]
    assert e2e
    for rec in e2e:
        assert rec["reference"].startswith("mmaction2") and rec["speedup"] > 0
        assert rec["top5_match_mmaction2"] is True  # same weights, same video: same answer as mmaction2
        assert set(rec["breakdown_ms"]) == {"decode", "preprocess", "inference"}


def test_markdown_and_readme_section(quick_run):
    md = (quick_run / "bench.md").read_text()
    assert "## End to end" in md and "## Model forward" in md and "## Not measured here" in md
    readme = (quick_run / "readme_section.md").read_text()
    assert readme.startswith("## Performance") and "mmaction2" in readme and "pcan bench" in readme


def test_pcan_cli_mounts_bench():
    res = runner.invoke(pcan_app, ["bench", "--help"])
    assert res.exit_code == 0 and "--quick" in res.output and "--batch-sizes" in res.output


def test_bad_options_are_usage_errors(tmp_path):
    res = runner.invoke(bench_app, ["bench", "--quick", "--stages", "decode,nonsense", "--out", str(tmp_path)])
    assert res.exit_code == 2 and "nonsense" in res.output
    res = runner.invoke(
        bench_app, ["bench", "--quick", "--backends", "tensorflow", "--stages", "model", "--out", str(tmp_path)]
    )
    assert res.exit_code == 2 and "tensorflow" in res.output
    assert not (tmp_path / "bench.json").exists()


def test_http_stage_measures_a_real_server(tmp_path, sample_video, sample_skeleton):
    args = ["bench", "--preset", "tiny", "--stages", "http", "--concurrencies", "1,2", "--repeats", "2"]
    args += ["--out", str(tmp_path), "--video", str(sample_video), "--skeleton", str(sample_skeleton)]
    res = runner.invoke(bench_app, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    records = [r for r in json.loads((tmp_path / "bench.json").read_text())["records"] if r["stage"] == "http"]
    assert [r["concurrency"] for r in records] == [1, 2]
    for rec in records:
        assert rec["status"] == "ok" and rec["errors"] == 0
        assert rec["n"] == max(2, 2 * rec["concurrency"]) and rec["throughput_unit"] == "requests/s"
    _png_size(tmp_path / "http_latency.png")
    assert "## HTTP service" in (tmp_path / "bench.md").read_text()
