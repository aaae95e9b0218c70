"""make_inputs against mmaction2's own RGBPoseConv3D test pipeline (transforms + data preprocessor).

Tolerances (the contract): imgs at most 1 grey level apart in pixel units before normalisation, heatmaps at
most 1e-4 apart. The reference is built from mmaction2's installed config by training.mm_reference.
"""

import json
from dataclasses import replace

import numpy as np
import pytest
from test_preprocess_fixtures import person_track, skeleton_dict, write_video

from pcan_serve.model.config import PreprocessConfig
from pcan_serve.preprocess import make_inputs
from training.mm_reference import mm_make_inputs

CFG = PreprocessConfig()
GREY_LEVELS = 1.0
HEATMAP_ATOL = 1e-4
H, W = 240, 320


def assert_parity(ours: dict, ref: dict, cfg: PreprocessConfig = CFG, min_peak: float = 0.25) -> None:
    clips = ref["imgs"].shape[0]
    size, hm = cfg.resize, cfg.heatmap_size
    assert ours["imgs"].shape == (clips, 3, cfg.clip_len_rgb, size, size) == ref["imgs_u8"].shape
    assert ours["heatmaps"].shape == (clips, 17, cfg.clip_len_pose, hm, hm) == ref["heatmaps"].shape
    assert ours["imgs"].dtype == ours["heatmaps"].dtype == np.float32

    mean = np.array(cfg.mean).reshape(1, 3, 1, 1, 1)
    std = np.array(cfg.std).reshape(1, 3, 1, 1, 1)
    pixels = ours["imgs"].astype(np.float64) * std + mean
    assert np.abs(pixels - ref["imgs_u8"]).max() <= GREY_LEVELS + 1e-3
    assert np.abs(ours["imgs"] - ref["imgs"]).max() <= GREY_LEVELS / min(cfg.std) + 1e-5
    assert np.abs(ours["heatmaps"] - ref["heatmaps"]).max() <= HEATMAP_ATOL
    # not vacuous: real pictures and real Gaussians were compared
    assert ref["imgs_u8"].std() > 10 and ref["heatmaps"].max() > min_peak


@pytest.fixture(scope="module")
def video40(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("v") / "synthetic40.avi", num_frames=40)


@pytest.fixture(scope="module")
def video12(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("v") / "synthetic12.avi", num_frames=12, seed=3)


def test_ntu_sample_one_clip(sample_video, sample_skeleton):
    ref = mm_make_inputs(sample_video, json.loads(sample_skeleton.read_text()), num_clips=1)
    assert_parity(make_inputs(sample_video, sample_skeleton, num_clips=1), ref)


@pytest.mark.slow  # mmaction2 re-decodes the 1080p video once per clip (~15 s on 2 cores)
def test_ntu_sample_ten_clips(sample_video, sample_skeleton):
    ref = mm_make_inputs(sample_video, json.loads(sample_skeleton.read_text()), num_clips=10)
    assert_parity(make_inputs(sample_video, sample_skeleton.read_bytes(), num_clips=10), ref)


@pytest.mark.parametrize("num_clips", [1, 10])
def test_two_overlapping_persons(video40, num_clips):
    a = person_track(40, (60, 30, 90, 180), seed=1)
    b = person_track(40, (80, 40, 90, 170), drift=-1.0, seed=2)  # overlapping: max over persons matters
    skel = skeleton_dict([a[0], b[0]], [a[1], b[1]], (H, W))
    assert_parity(make_inputs(video40, skel, num_clips=num_clips), mm_make_inputs(video40, skel, num_clips))


@pytest.mark.parametrize("num_clips", [1, 10])
def test_missing_joints(video40, num_clips):
    kp, score = person_track(40, (100, 40, 100, 170), seed=4)
    rng = np.random.default_rng(5)
    score[rng.random(score.shape) < 0.25] = 0.0  # missing
    score[rng.random(score.shape) < 0.05] = 5e-5  # below mmaction2's eps: drawn nowhere
    kp[rng.random(score.shape) < 0.05] = 0.0  # (0, 0): missing for the box, never shifted
    kp[rng.random(score.shape) < 0.05, 0] = 0.0  # only x missing
    skel = skeleton_dict([kp], [score], (H, W))
    assert_parity(make_inputs(video40, skel, num_clips=num_clips), mm_make_inputs(video40, skel, num_clips))


@pytest.mark.parametrize("box", [(-60, -50, 140, 260), (230, 60, 150, 230)], ids=["top-left", "bottom-right"])
def test_keypoints_outside_the_frame(video40, box):
    kp, score = person_track(40, box, seed=6)  # the padded box reaches past the frame: zero padding
    skel = skeleton_dict([kp], [score], (H, W))
    assert_parity(make_inputs(video40, skel), mm_make_inputs(video40, skel, 1))


def test_tiny_cluster_outside_the_frame(video40):
    """Joints spread < 10 px: the box falls back to the whole frame and keypoints stay outside it, so
    heatmap windows are cut at the map border (including mmaction2's truncation toward zero)."""
    rng = np.random.default_rng(7)
    kp = np.array([-9.0, 100.0]) + rng.uniform(-4, 4, (40, 17, 2))
    kp[:20] = np.array([W + 7.5, 50.0]) + rng.uniform(-4, 4, (20, 17, 2))
    skel = skeleton_dict([kp], [rng.uniform(0.5, 1, (40, 17))], (H, W))
    assert_parity(make_inputs(video40, skel), mm_make_inputs(video40, skel, 1), min_peak=0.0)


@pytest.mark.parametrize("num_clips", [1, 10])
def test_skeleton_one_frame_shorter(video40, num_clips):
    kp, score = person_track(39, (90, 30, 110, 190), seed=8)
    skel = skeleton_dict([kp], [score], (H, W))
    # mmaction2 samples from the annotation's 39 frames; we clip to the shorter of skeleton and video
    assert_parity(make_inputs(video40, skel, num_clips=num_clips), mm_make_inputs(video40, skel, num_clips))


def test_skeleton_one_frame_longer(video40):
    kp, score = person_track(41, (90, 30, 110, 190), seed=9)
    ours = make_inputs(video40, skeleton_dict([kp], [score], (H, W)))
    clipped = skeleton_dict([kp[:40]], [score[:40]], (H, W))
    assert_parity(ours, mm_make_inputs(video40, clipped, 1))


def test_short_video_wraps_and_skips(video12):
    """12 frames: the RGB clip takes random one-frame skips, the pose clip wraps around the video."""
    kp, score = person_track(12, (90, 30, 110, 190), seed=10)
    skel = skeleton_dict([kp], [score], (H, W))
    assert_parity(make_inputs(video12, skel, num_clips=3), mm_make_inputs(video12, skel, 3))


def test_skeleton_for_larger_frames_is_rescaled(video40):
    kp, score = person_track(40, (180, 60, 220, 380), seed=11)  # measured on 640x480 frames
    skel = skeleton_dict([kp], [score], (2 * H, 2 * W))
    assert_parity(make_inputs(video40, skel), mm_make_inputs(video40, skel, 1))


def test_tiny_preset_resolution(video40):
    cfg = replace(CFG, resize=64)
    kp, score = person_track(40, (90, 30, 110, 190), seed=12)
    skel = skeleton_dict([kp], [score], (H, W))
    assert_parity(make_inputs(video40, skel, config=cfg), mm_make_inputs(video40, skel, 1, resize=64), cfg)
