"""`pcan bench --stages pose`: the pose stage records every part (fields, not timings), on the first frames of the
NTU sample at 960x540 (the full sample costs seconds per round)."""

import json

import cv2
import numpy as np
from pose_helpers import write_video
from typer.testing import CliRunner

from benchmarks.cli import app as bench_app
from benchmarks.stage_pose import PARTS
from pcan_serve.preprocess import open_video

COUNT = 16


def test_pose_stage_records_parts_and_the_video_only_extra(tmp_path, sample_video, sample_skeleton):
    with open_video(sample_video) as video:
        frames = [cv2.resize(f, (960, 540), interpolation=cv2.INTER_AREA) for f in video.decode(np.arange(COUNT))]
    short = write_video(tmp_path / "short.mp4", frames)
    skeleton = json.loads(sample_skeleton.read_text())
    keep = {k: np.asarray(skeleton[k])[:, :COUNT].tolist() for k in ("keypoint", "keypoint_score")}
    (tmp_path / "short.json").write_text(json.dumps({**skeleton, **keep, "total_frames": COUNT}))
    args = ["bench", "--quick", "--repeats", "1", "--stages", "pose", "--out", str(tmp_path / "out")]
    args += ["--video", str(short), "--skeleton", str(tmp_path / "short.json")]
    res = CliRunner().invoke(bench_app, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    records = json.loads((tmp_path / "out" / "bench.json").read_text())["records"]
    ok = {r["part"]: r for r in records if r["stage"] == "pose" and r["status"] == "ok"}
    assert set(ok) == {part for part, _ in PARTS.values()}, records
    for part, unit in PARTS.values():
        assert ok[part]["throughput_unit"] == unit and ok[part]["median_ms"] > 0
    video_only = ok["inputs, video only"]
    expected = video_only["median_ms"] - ok["inputs, skeleton given"]["median_ms"]
    assert abs(video_only["extra_ms_vs_skeleton"] - expected) < 0.1
    assert "Pose estimation" in (tmp_path / "out" / "bench.md").read_text()
