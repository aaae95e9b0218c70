"""benchmarks.bench_preprocess is importable and returns one record per stage and clip count."""

import json

import pytest
from test_preprocess_fixtures import person_track, skeleton_dict, write_video

from benchmarks.bench_preprocess import bench_preprocess


def test_bench_records(tmp_path):
    video = write_video(tmp_path / "v.avi", num_frames=24)
    kp, score = person_track(24, (90, 30, 110, 190))
    skeleton = tmp_path / "v.json"
    skeleton.write_text(json.dumps(skeleton_dict([kp], [score], (240, 320))))
    records = bench_preprocess(video, skeleton, num_clips=(1, 2), repeats=2, overall_repeats=1)
    assert [(r["stage"], r["num_clips"]) for r in records] == [
        ("after_decode", 1), ("overall", 1), ("after_decode", 2), ("overall", 2)
    ]  # fmt: skip
    for r in records:
        assert r["ours_median_ms"] > 0 and r["mmaction2_median_ms"] > 0
        assert r["speedup"] == pytest.approx(r["mmaction2_median_ms"] / r["ours_median_ms"], abs=0.011)
        assert r["video"] == "v.avi" and r["resize"] == 256
    json.dumps(records)  # plain data, ready for a report
