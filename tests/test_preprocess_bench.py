"""`pcan bench --stages preprocess` returns one pcan and one mmaction2 record per part and clip count."""

import json

import pytest
from test_preprocess_fixtures import person_track, skeleton_dict, write_video
from typer.testing import CliRunner

from benchmarks.cli import app as bench_app


def test_bench_records(tmp_path):
    video = write_video(tmp_path / "v.avi", num_frames=24)
    kp, score = person_track(24, (90, 30, 110, 190))
    skeleton = tmp_path / "v.json"
    skeleton.write_text(json.dumps(skeleton_dict([kp], [score], (240, 320))))
    args = ["bench", "--preset", "ntu60", "--stages", "preprocess", "--clips", "1,2", "--repeats", "2"]
    args += ["--video", str(video), "--skeleton", str(skeleton), "--out", str(tmp_path / "out")]
    res = CliRunner().invoke(bench_app, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    records = json.loads((tmp_path / "out" / "bench.json").read_text())["records"]
    records = [r for r in records if r["stage"] == "preprocess"]
    ours = [r for r in records if r["impl"] == "pcan"]
    theirs = {(r["part"], r["num_clips"]): r for r in records if r["impl"] == "mmaction2"}
    assert [(r["part"], r["num_clips"]) for r in ours] == [
        ("after_decode", 1), ("overall", 1), ("after_decode", 2), ("overall", 2)
    ]  # fmt: skip
    for r in ours:
        mm = theirs[(r["part"], r["num_clips"])]
        assert r["median_ms"] > 0 and mm["median_ms"] > 0
        assert r["speedup"] == pytest.approx(mm["median_ms"] / r["median_ms"], abs=0.011)
        assert r["video"] == "v.avi" and r["resize"] == 256
        # throughput counts clips: a call with 2 clips does twice the work of one
        assert r["throughput"] == pytest.approx(r["num_clips"] * 1000 / r["median_ms"], rel=1e-3, abs=1e-3)
