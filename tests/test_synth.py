"""The synthetic action set: deterministic by seed, in mmaction2 PoseDataset format, readable by decord,
with sidecar skeletons (docs/formats.md "Skeleton") and predict manifests beside it."""

import csv
import hashlib
import json
import pickle
from pathlib import Path

import decord
import numpy as np
import pytest
from typer.testing import CliRunner

from training.cli import app
from training.synth import MOTIONS, SynthSpec, class_names, generate
from training.synth.motions import motion_sequence

SMALL = SynthSpec(num_classes=3, videos_per_class=3, seed=7, val_fraction=0.34)


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def small_set(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("synth_small"), SMALL)


def test_same_seed_same_files_other_seed_other_videos(small_set, tmp_path):
    again = generate(tmp_path / "again", SMALL)
    assert _digest(small_set.root) == _digest(again.root)
    other = generate(tmp_path / "other", SynthSpec(**{**SMALL.__dict__, "seed": 8}))
    a, b = _digest(small_set.root), _digest(other.root)
    videos = [k for k in a if k.endswith(".avi")]
    assert videos and all(a[k] != b[k] for k in videos)


def test_pose_dataset_annotations(small_set):
    data = pickle.loads(small_set.ann_file.read_bytes())
    annos, split = data["annotations"], data["split"]
    assert set(split) == {"train", "val"}
    assert len(annos) == SMALL.num_classes * SMALL.videos_per_class
    assert sorted(split["train"] + split["val"]) == sorted(a["filename"] for a in annos)
    assert not set(split["train"]) & set(split["val"])
    val_labels = {a["label"] for a in annos if a["filename"] in split["val"]}
    assert val_labels == set(range(SMALL.num_classes))  # every class is held out
    for a in annos:
        t = a["total_frames"]
        assert SMALL.min_frames <= t <= SMALL.max_frames
        assert a["keypoint"].shape == (1, t, 17, 2) and a["keypoint"].dtype == np.float32
        assert a["keypoint_score"].shape == (1, t, 17)
        assert a["img_shape"] == a["original_shape"] == (SMALL.height, SMALL.width)
        assert a["filename"] == a["frame_dir"] + ".avi"
        assert 0 <= a["label"] < SMALL.num_classes
        h, w = a["img_shape"]
        assert (a["keypoint"][..., 0] >= 0).all() and (a["keypoint"][..., 0] < w).all()
        assert (a["keypoint"][..., 1] >= 0).all() and (a["keypoint"][..., 1] < h).all()


def test_videos_decode_and_match_their_skeletons(small_set):
    data = pickle.loads(small_set.ann_file.read_bytes())
    for a in data["annotations"][:: SMALL.videos_per_class]:
        video = small_set.root / "videos" / a["filename"]
        reader = decord.VideoReader(str(video))
        assert len(reader) == a["total_frames"]
        assert reader[0].shape == (SMALL.height, SMALL.width, 3)
        sidecar = json.loads(video.with_suffix(".json").read_text())
        assert sidecar["img_shape"] == [SMALL.height, SMALL.width]
        assert sidecar["total_frames"] == a["total_frames"]
        np.testing.assert_array_equal(np.asarray(sidecar["keypoint"], np.float32), a["keypoint"])
        np.testing.assert_array_equal(np.asarray(sidecar["keypoint_score"], np.float32), a["keypoint_score"])


def test_manifests_point_at_files(small_set):
    for part in ("train", "val"):
        rows = list(csv.DictReader((small_set.root / f"manifest_{part}.csv").open()))
        assert rows and list(rows[0]) == ["video", "skeleton", "label"]
        assert len(rows) == len(getattr(small_set, part))
        for row in rows:
            assert (small_set.root / row["video"]).is_file() and (small_set.root / row["skeleton"]).is_file()
    assert (small_set.root / "classes.txt").read_text().split() == list(class_names(SMALL.num_classes))


def test_motions_are_distinct_and_bodies_keep_their_limb_lengths():
    seqs = {name: motion_sequence(name, 48, cycles=1.0, phase=0.0, mirror=False) for name in MOTIONS}
    names = list(seqs)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert np.abs(seqs[a] - seqs[b]).mean() > 0.01, (a, b)
    for name, seq in seqs.items():  # upper arms never stretch
        upper = np.linalg.norm(seq[:, 7] - seq[:, 5], axis=-1)
        assert np.allclose(upper, upper[0], atol=1e-6), name


def test_cli_synth_and_usage_errors(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["data", "synth", str(tmp_path / "s"), "--classes", "2", "--videos-per-class", "2"])
    assert result.exit_code == 0, result.output
    assert "2 train + 2 val videos of 2 classes" in result.output
    bad = runner.invoke(app, ["data", "synth", str(tmp_path / "t"), "--classes", "9"])
    assert bad.exit_code == 2
    assert "2..8 classes" in bad.output
