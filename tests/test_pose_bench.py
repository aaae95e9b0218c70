"""`pcan bench --stages pose`: the pose stage records every part on the NTU sample (fields, not timings)."""

import json

from typer.testing import CliRunner

from benchmarks.cli import app as bench_app
from benchmarks.stage_pose import PARTS


def test_pose_stage_records_parts_and_the_video_only_extra(tmp_path, sample_video, sample_skeleton):
    args = [
        "bench",
        "--quick",
        "--repeats",
        "1",
        "--stages",
        "pose",
        "--out",
        str(tmp_path),
        "--video",
        str(sample_video),
    ]
    res = CliRunner().invoke(bench_app, [*args, "--skeleton", str(sample_skeleton)], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    records = json.loads((tmp_path / "bench.json").read_text())["records"]
    ok = {r["part"]: r for r in records if r["stage"] == "pose" and r["status"] == "ok"}
    assert set(ok) == {part for part, _ in PARTS.values()}, records
    for part, unit in PARTS.values():
        assert ok[part]["throughput_unit"] == unit and ok[part]["median_ms"] > 0
    video_only = ok["inputs, video only"]
    expected = video_only["median_ms"] - ok["inputs, skeleton given"]["median_ms"]
    assert abs(video_only["extra_ms_vs_skeleton"] - expected) < 0.1
    assert "Pose estimation" in (tmp_path / "bench.md").read_text()
