"""`pcan predict` end to end on real videos: batch semantics, error rows, exit codes, resume, shard."""

import csv
import json
import shutil
from pathlib import Path

import av
import numpy as np
import pytest
from typer.testing import CliRunner

from pcan_serve.cli import app
from pcan_serve.runtime import Predictor

runner = CliRunner()


@pytest.fixture(scope="module")
def batch_dir(tmp_path_factory, sample_video, sample_skeleton) -> Path:
    """good x2 (sidecars), corrupt video, malformed skeleton, no skeleton (estimated from the video)."""
    d = tmp_path_factory.mktemp("batch")
    skel = json.loads(sample_skeleton.read_text())
    for stem in ("good_a", "good_b"):
        shutil.copy(sample_video, d / f"{stem}.avi")
        (d / f"{stem}.json").write_text(json.dumps(skel))
    (d / "corrupt.avi").write_bytes(b"\x00garbage" * 500)
    (d / "corrupt.json").write_text(json.dumps(skel))
    shutil.copy(sample_video, d / "badskel.avi")
    bad = dict(skel)
    bad["keypoint"] = [[[[1.0, 2.0]] * 5] * len(skel["keypoint"][0])]  # 5 joints instead of 17
    (d / "badskel.json").write_text(json.dumps(bad))
    shutil.copy(sample_video, d / "noskel.avi")
    return d


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _invoke(args: list[str]):
    return runner.invoke(app, ["predict", *args, "--no-progress"], catch_exceptions=False)


def test_single_video_matches_python_api(tiny_ckpt, sample_video, sample_skeleton, tmp_path):
    out = tmp_path / "one.jsonl"
    res = _invoke(
        [
            str(sample_video),
            "--skeleton",
            str(sample_skeleton),
            "--checkpoint",
            str(tiny_ckpt),
            "--output",
            str(out),
            "--top-k",
            "5",
        ]
    )
    assert res.exit_code == 0, res.output
    [row] = _rows(out)
    ref = Predictor.from_path(tiny_ckpt, device="cpu").predict(sample_video, sample_skeleton, top_k=5).to_dict()
    assert row["ok"] and row["video"] == str(sample_video)
    assert row["fusion"] == "late_1:1" and row["model"]["weights"] == "trained" and row["model"]["fused_head"]
    assert set(row["branches"]) == {"rgb", "pose", "fused"}
    for key in ("prediction", "top_k", "branches"):
        assert json.dumps(row[key]) == json.dumps(ref[key])
    assert set(row["timing_ms"]) == {"decode", "pose", "preprocess", "inference", "total"}
    # late fusion is the mean of the branch probabilities (1:1)
    rgb = {d["label"]: d["score"] for d in row["branches"]["rgb"]["top_k"]}
    pose = {d["label"]: d["score"] for d in row["branches"]["pose"]["top_k"]}
    top = row["top_k"][0]
    if top["label"] in rgb and top["label"] in pose:
        assert top["score"] == pytest.approx((rgb[top["label"]] + pose[top["label"]]) / 2, abs=1e-6)


def test_batch_with_bad_items(tiny_ckpt, batch_dir, tmp_path):
    out = tmp_path / "batch.jsonl"
    res = _invoke([str(batch_dir), "--checkpoint", str(tiny_ckpt), "--output", str(out), "--batch-size", "2"])
    assert res.exit_code == 1, res.output
    rows = {Path(r["video"]).stem: r for r in _rows(out)}
    assert set(rows) == {"good_a", "good_b", "corrupt", "badskel", "noskel"}
    assert rows["good_a"]["ok"] and rows["good_b"]["ok"]
    assert json.dumps(rows["good_a"]["top_k"]) == json.dumps(rows["good_b"]["top_k"])  # same clip, same answer
    assert rows["corrupt"]["error"]["type"] == "InvalidVideo"
    assert rows["badskel"]["error"]["type"] == "InvalidSkeleton" and "17" in rows["badskel"]["error"]["message"]
    assert rows["noskel"]["ok"] and rows["noskel"]["skeleton"] == {
        "source": "estimated",
        "persons": 1,
        "estimator": "blazepose-full",
    }
    assert rows["good_a"]["skeleton"] == {"source": "uploaded", "persons": 1}


def test_resume_skips_done_items_and_repairs_a_cut_line(tiny_ckpt, batch_dir, tmp_path):
    out = tmp_path / "resume.jsonl"
    good = batch_dir / "good_a.avi"
    assert _invoke([str(good), "--checkpoint", str(tiny_ckpt), "--output", str(out)]).exit_code == 0
    with out.open("a") as f:
        f.write('{"video": "half a li')  # an interrupted run
    res = _invoke([str(batch_dir), "--checkpoint", str(tiny_ckpt), "--output", str(out), "--resume"])
    assert res.exit_code == 1
    rows = _rows(out)
    videos = [r["video"] for r in rows]
    assert len(videos) == len(set(videos)) == 5 and videos[0] == str(good)
    assert f"resume: 1 items already in {out}, 4 to go" in " ".join(res.output.split())


def test_no_model_means_seeded_untrained_weights_with_a_warning(batch_dir, tmp_path):
    out = tmp_path / "untrained.jsonl"
    res = _invoke([str(batch_dir / "good_a.avi"), str(batch_dir / "missing.avi"), "--output", str(out)])
    assert res.exit_code == 1  # the missing video is an error row, not a usage error
    text = " ".join(res.output.split())
    assert "no model given: untrained ntu60 weights (seeded)" in text
    good, missing = _rows(out)
    assert good["ok"] and good["model"]["weights"] == "untrained" and good["model"]["name"] == "pcan-ntu60"
    assert missing["error"]["type"] == "MissingInput"


def test_shards_partition_the_items(tiny_ckpt, batch_dir, tmp_path):
    seen = []
    for i in range(2):
        out = tmp_path / f"shard{i}.jsonl"
        _invoke([str(batch_dir), "--checkpoint", str(tiny_ckpt), "--output", str(out), "--shard", f"{i}/2"])
        seen.append({r["video"] for r in _rows(out)})
    assert seen[0] and seen[1] and not seen[0] & seen[1] and len(seen[0] | seen[1]) == 5


def test_manifest_csv_output_and_untrained_preset(batch_dir, tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        f"video,skeleton\n{batch_dir / 'good_a.avi'},{batch_dir / 'good_a.json'}\n{batch_dir / 'missing.avi'},\n"
    )
    out = tmp_path / "out.csv"
    res = _invoke(["--manifest", str(manifest), "--preset", "tiny", "--output", str(out)])
    assert res.exit_code == 1, res.output
    rows = list(csv.DictReader(out.open()))
    assert [r["ok"] for r in rows] == ["True", "False"]
    assert rows[0]["model.weights"] == "untrained" and rows[1]["error.type"] == "MissingInput"
    assert rows[0]["prediction.name"] and json.loads(rows[0]["top_k"])[0]["name"] == rows[0]["prediction.name"]


def test_multi_clip_scores_are_averaged(tiny_ckpt, sample_video, sample_skeleton):
    predictor = Predictor.from_path(tiny_ckpt, device="cpu")
    item = predictor.prepare(sample_video, sample_skeleton, num_clips=3)
    assert item.imgs.shape[0] == 3
    per_clip = [predictor.backend.run(item.imgs[i : i + 1], item.heatmaps[i : i + 1]) for i in range(3)]
    [avg] = predictor.infer([item])
    for branch in ("rgb", "pose", "fused"):
        np.testing.assert_allclose(avg[branch], np.mean([c[branch][0] for c in per_clip], axis=0), atol=1e-6)


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "VIDEO arguments or --manifest"),
        (["x.avi", "--checkpoint", "a.pth", "--onnx", "b.onnx"], "give one model, not --checkpoint and --onnx"),
        (["x.avi", "--onnx", "README.md"], "README.md is a PyTorch checkpoint by its suffix, not an ONNX model"),
        (["x.avi", "--preset", "tiny", "-o", "out.txt"], "must end in .jsonl or .csv"),
        (["x.avi", "--preset", "tiny", "-o", "no/such/dir/out.jsonl"], "folder does not exist"),
        (["x.avi", "--onnx", "missing.onnx"], "model file not found: missing.onnx"),
        (["x.avi", "--preset", "tiny", "--shard", "3/2"], "0 <= i < n"),
        (["x.avi", "--preset", "tiny", "--fusion", "early"], "--fusion: Input should be 'late' or 'fused'"),
        (["x.avi", "--preset", "tiny", "--num-clips", "11"], "num_clips 11 is over the limit of 10"),
        (["x.avi", "--preset", "nope"], "unknown preset 'nope'"),
        (["x.avi", "--preset", "tiny", "--fusion", "fused"], "fused head"),
        (["x.avi", "--checkpoint", "missing.pth"], "not found"),
    ],
)
def test_usage_errors_exit_2(args, message):
    res = _invoke(args)
    assert res.exit_code == 2
    assert message in " ".join(res.output.split())


def test_csv_cells_that_a_spreadsheet_would_run_are_made_inert(tmp_path, monkeypatch, sample_video, sample_skeleton):
    """OWASP's CSV injection: cells leading with = + - @ tab or CR get a ' in CSV; JSONL keeps the raw value."""
    formulas = ["=cmd|' calc'!A0.avi", "+1.avi", "@sum.avi", "-2.avi"]
    for name in [*formulas, "plain.avi"]:
        shutil.copy(sample_video, tmp_path / name)
        shutil.copy(sample_skeleton, tmp_path / (Path(name).stem + ".json"))
    (tmp_path / "=missing.avi").write_bytes(b"")  # a failure row carries the name too
    names = [*formulas, "plain.avi", "=missing.avi"]
    monkeypatch.chdir(tmp_path)  # relative names: the cells start with the names themselves
    for out in ("out.csv", "out.jsonl"):
        args = ["predict", "--preset", "tiny", "-o", out, "--no-progress", "--", *names]  # "-2.avi" is no flag
        assert runner.invoke(app, args, catch_exceptions=False).exit_code == 1  # =missing.avi fails
    cells = [r["video"] for r in csv.DictReader(open("out.csv"))]
    assert cells == ["'" + n for n in formulas] + ["plain.avi", "'=missing.avi"]
    assert [r["video"] for r in _rows(tmp_path / "out.jsonl")] == names  # JSONL: the names as they are


def test_resume_from_csv_skips_inert_names(tmp_path, monkeypatch, sample_video, sample_skeleton):
    shutil.copy(sample_video, tmp_path / "=x.avi")
    shutil.copy(sample_skeleton, tmp_path / "=x.json")
    monkeypatch.chdir(tmp_path)
    assert _invoke(["=x.avi", "--preset", "tiny", "-o", "out.csv"]).exit_code == 0
    res = _invoke(["=x.avi", "--preset", "tiny", "-o", "out.csv", "--resume"])
    assert "1 items already in" in res.output and "0 to go" in res.output


def test_window_and_annotate_write_a_timeline_and_pictures(tiny_ckpt, sample_video, sample_skeleton, tmp_path):
    out, pictures = tmp_path / "out.jsonl", tmp_path / "pictures"
    pictures.mkdir()
    args = [str(sample_video), "--skeleton", str(sample_skeleton), "--checkpoint", str(tiny_ckpt), "-o", str(out)]
    res = _invoke([*args, "--window", "1", "--stride", "0.5", "--annotate", str(pictures), "--top-k", "3"])
    assert res.exit_code == 0, res.output
    [row] = _rows(out)
    ref = Predictor.from_path(tiny_ckpt, device="cpu").predict(sample_video, sample_skeleton, top_k=3).to_dict()
    assert [c["label"] for c in row["top_k"]] == [c["label"] for c in ref["top_k"]]  # the whole-video answer
    assert len(row["timeline"]) == 6 and row["timeline"][-1]["end"] == round(103 / 30, 3)
    stem = sample_video.stem
    assert sorted(p.name for p in pictures.iterdir()) == [f"{stem}.mp4", f"{stem}.timeline.png"]
    res = _invoke([*args, "--window", "1"])
    assert res.exit_code == 2 and "window and stride go together" in res.output
    res = _invoke([*args, "--window", "1", "--stride", "0.5", "--executor", "ray"])
    assert res.exit_code == 2 and "--executor local" in res.output


def test_annotate_a_video_without_a_skeleton_draws_an_estimated_one(tiny_ckpt, sample_video, tmp_path):
    video, out, pictures = tmp_path / sample_video.name, tmp_path / "out.jsonl", tmp_path / "pictures"
    shutil.copy(sample_video, video)  # no sidecar beside it: the skeleton is estimated
    pictures.mkdir()
    res = _invoke([str(video), "--checkpoint", str(tiny_ckpt), "-o", str(out), "--annotate", str(pictures)])
    assert res.exit_code == 0, res.output
    [row] = _rows(out)
    assert row["ok"] and row["skeleton"]["source"] == "estimated"
    with av.open(str(pictures / f"{video.stem}.mp4")) as container:
        assert sum(1 for _ in container.decode(video=0)) == 103  # every frame of the NTU sample
