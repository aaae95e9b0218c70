"""The built-in pose estimator (BlazePose detector + full landmark model on LiteRT) on real videos: agreement with
the NTU sample's MediaPipe skeleton, two persons tracked with stable identities, no person, the request path
(sampled frames only, frames decoded once) into preprocessing, and missing weights."""

import json

import numpy as np
import pytest
from pose_helpers import pck, two_person_video, write_video
from typer.testing import CliRunner
from video_fixtures import moving_frames

from pcan_serve.cli import app as pcan
from pcan_serve.errors import BackendUnavailable, NoPersonDetected
from pcan_serve.http.errors import status_of
from pcan_serve.pose import load_estimator, make_inputs_estimated
from pcan_serve.pose.weights import MODELS_ENV
from pcan_serve.preprocess import load_skeleton, make_inputs, open_video, plan_clips

runner = CliRunner()


@pytest.fixture(scope="module")
def estimator():
    return load_estimator()


@pytest.fixture(scope="module")
def reference(sample_skeleton) -> np.ndarray:
    return np.asarray(json.loads(sample_skeleton.read_text())["keypoint"], dtype=np.float32)


@pytest.fixture(scope="module")
def pose_json(sample_video, tmp_path_factory):
    """`pcan pose` on the sample: every frame, the detector included, no crop given."""
    out = tmp_path_factory.mktemp("pose") / "sample.json"
    res = runner.invoke(pcan, ["pose", str(sample_video), "--output", str(out), "--no-progress"])
    assert res.exit_code == 0, res.output
    return out


def test_pcan_pose_agrees_with_the_samples_mediapipe_skeleton(pose_json, reference):
    data = json.loads(pose_json.read_text())
    keypoint, score = np.asarray(data["keypoint"]), np.asarray(data["keypoint_score"])
    assert keypoint.shape == (1, 103, 17, 2) and score.shape == (1, 103, 17)
    assert data["img_shape"] == [1080, 1920] and data["total_frames"] == 103
    value = pck(keypoint[0], reference[0])
    print(f"PCK@0.05 of the box diagonal vs the sample's MediaPipe skeleton: {value:.4f}")
    assert value >= 0.9
    assert score.min() > 0 and np.median(score) > 0.8  # one person visible in every frame


def test_pcan_pose_output_feeds_preprocessing(pose_json, sample_video):
    skeleton = load_skeleton(pose_json)
    assert skeleton.keypoint.shape == (1, 103, 17, 2) and skeleton.img_shape == (1080, 1920)
    inputs = make_inputs(sample_video, pose_json, num_clips=1)
    assert inputs["imgs"].shape == (1, 3, 8, 256, 256) and inputs["heatmaps"].shape == (1, 17, 32, 64, 64)
    assert inputs["heatmaps"].max() > 0.5


def test_a_request_estimates_only_the_sampled_frames_and_decodes_once(estimator, sample_video, sample_skeleton):
    from pcan_serve.model.config import PreprocessConfig

    cfg = PreprocessConfig()
    with open_video(sample_video) as video:
        plan = plan_clips(video.num_frames, 1, cfg)
        result, rgb = estimator.estimate_keeping(video, plan.pose, plan.rgb_unique)
    sampled = np.unique(plan.pose)
    score = result.skeleton["keypoint_score"]
    assert score.shape == (1, 103, 17) and result.info.frames == len(sampled) == 32
    seen = np.flatnonzero(score[0].max(axis=1) > 0)
    np.testing.assert_array_equal(seen, sampled)  # unsampled frames: score 0
    assert not result.skeleton["keypoint"][:, np.setdiff1d(np.arange(103), sampled)].any()
    assert result.info.estimator == "blazepose-full" and result.info.persons == 1
    assert {"decode", "detect", "pose", "total"} <= set(result.info.timing_ms)
    ref = np.asarray(json.loads(sample_skeleton.read_text())["keypoint"], dtype=np.float32)
    assert pck(result.skeleton["keypoint"][0, sampled], ref[0, sampled]) >= 0.9
    with open_video(sample_video) as video:  # the kept frames are the RGB branch's frames, decoded once
        np.testing.assert_array_equal(rgb, video.decode(plan.rgb_unique))


def test_video_only_inputs_match_those_of_the_given_skeleton(estimator, sample_video, sample_skeleton):
    from pcan_serve.model.config import PreprocessConfig

    cfg = PreprocessConfig()
    timings: dict[str, float] = {}
    estimated, info = make_inputs_estimated(sample_video, estimator, config=cfg, timings=timings)
    assert set(timings) == {"decode", "pose", "preprocess"} and info.frames == 32
    given = make_inputs(sample_video, sample_skeleton, config=cfg)
    assert estimated["heatmaps"].shape == given["heatmaps"].shape == (1, 17, 32, 64, 64)
    assert np.abs(estimated["heatmaps"] - given["heatmaps"]).mean() < 0.01  # the same person, the same crop
    assert np.abs(estimated["imgs"] - given["imgs"]).mean() < 0.5  # normalised pixels: a few-pixel crop shift
    again, _ = make_inputs_estimated(sample_video, estimator, config=cfg, keep_bytes=0)
    for key in ("imgs", "heatmaps"):  # frames over the memory budget are decoded again: the same inputs
        np.testing.assert_array_equal(again[key], estimated[key])


def test_two_persons_are_tracked_with_stable_identities(estimator, sample_video, sample_skeleton, tmp_path):
    count, shift = 20, 40
    with open_video(sample_video) as video:
        frames = video.decode(np.arange(count + shift))
    ref = np.asarray(json.loads(sample_skeleton.read_text())["keypoint"], dtype=np.float32)[0]
    path, refs = two_person_video(tmp_path / "two.mp4", frames, ref, count, shift)
    with open_video(path) as video:
        whole = estimator.detector.detect(video.decode(np.array([0]))[0], tiled=False)
    assert len(whole) < 2  # letterboxed whole, the detector does not see both: the tiles do
    result = estimator.estimate(path)
    kp, score = result.skeleton["keypoint"], result.skeleton["keypoint_score"]
    assert result.info.persons == 2 and kp.shape == (2, count, 17, 2)
    assert (score.max(axis=2) > 0).all()  # both followed in every frame
    left, right = kp[0, ..., 0], kp[1, ..., 0]
    assert (left < 960).all() and (right > 960).all()  # slots never swap, the left person is slot 0
    for person in range(2):
        value = pck(kp[person], refs[person])
        print(f"person {person}: PCK@0.05 {value:.4f}")
        assert value >= 0.9


def test_a_video_without_a_person_is_a_clear_error(estimator, tmp_path):
    path = write_video(tmp_path / "empty.mp4", moving_frames(8, (270, 480)))
    with pytest.raises(NoPersonDetected, match="no person found in empty.mp4"):
        estimator.estimate(path)
    assert status_of(NoPersonDetected()) == 422


def test_missing_weights_name_the_install_step(tmp_path, monkeypatch, sample_video):
    monkeypatch.setenv(MODELS_ENV, str(tmp_path))
    with pytest.raises(BackendUnavailable) as exc:
        load_estimator()
    assert "make install" in str(exc.value) and "python -m pcan_serve.pose.install" in str(exc.value)
    res = runner.invoke(pcan, ["pose", str(sample_video), "-o", str(tmp_path / "x.json"), "--no-progress"])
    assert res.exit_code == 2 and "python -m pcan_serve.pose.install" in res.output


def test_pcan_pose_goes_on_past_a_bad_item_and_exits_1(tmp_path, sample_video):
    empty = write_video(tmp_path / "empty.mp4", moving_frames(4, (270, 480)))
    with open_video(sample_video) as video:
        short = write_video(tmp_path / "short.mp4", list(video.decode(np.arange(6))))
    out = tmp_path / "out"
    res = runner.invoke(pcan, ["pose", str(empty), str(short), str(tmp_path / "missing.mp4"), "-o", str(out)])
    assert res.exit_code == 1, res.output
    assert "NoPersonDetected" in res.output and "MissingInput" in res.output
    assert sorted(p.name for p in out.iterdir()) == ["short.json"]
    assert load_skeleton(out / "short.json").keypoint.shape == (1, 6, 17, 2)
    res = runner.invoke(pcan, ["pose", str(short), str(empty), "-o", str(tmp_path / "one.json")])
    assert res.exit_code == 2 and "folder" in res.output


def test_progress_may_stop_the_estimation_at_a_deadline(estimator, sample_video):
    import threading

    from pcan_serve.http.errors import RequestTimeout

    seen = []

    def deadline(done: int, total: int) -> None:
        seen.append((done, total))
        if done == 3:
            raise RequestTimeout("deadline passed")

    before = threading.active_count()
    with pytest.raises(RequestTimeout):
        estimator.estimate(sample_video, frames=range(0, 40, 4), progress=deadline)
    assert seen == [(1, 10), (2, 10), (3, 10)]
    assert threading.active_count() == before  # the decoding thread was stopped and joined
