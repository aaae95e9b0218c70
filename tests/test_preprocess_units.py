"""Each preprocessing stage against the mmaction2 transform it re-implements, over many edge cases; and the
input forms, chunked decoding, thread safety and stage timings of make_inputs."""

import json
import threading

import numpy as np
import pytest
from test_preprocess_fixtures import person_track, skeleton_dict, write_video

from pcan_serve.model.config import PreprocessConfig
from pcan_serve.preprocess import (
    build_inputs,
    decode_video,
    fit_to_video,
    load_skeleton,
    make_inputs,
    open_video,
    plan_clips,
    uniform_test_indices,
    video,
)
from pcan_serve.preprocess.buffers import huge_page_array
from pcan_serve.preprocess.compact import compact_box
from pcan_serve.preprocess.heatmaps import pose_heatmaps
from training.mm_reference import mm_transforms

H, W = 240, 320


@pytest.fixture(scope="module")
def mm():
    """mmaction2's transforms (registry-built from its config) plus classes for custom parameters."""
    mm_transforms(1)  # applies the shims and registers mmaction2's modules
    from mmaction.datasets.transforms import GeneratePoseTarget, MMCompact, MMUniformSampleFrames

    return GeneratePoseTarget, MMCompact, MMUniformSampleFrames


@pytest.fixture(scope="module")
def video40(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("v") / "synthetic40.avi", num_frames=40)


@pytest.fixture(scope="module")
def skel40():
    a = person_track(40, (60, 30, 90, 180), seed=1)
    b = person_track(40, (150, 40, 90, 170), seed=2)
    return skeleton_dict([a[0], b[0]], [a[1], b[1]], (H, W))


def test_sampling_matches_mmaction_and_keeps_global_rng(mm):
    sampler_cls = mm[2]
    for num_clips in (1, 2, 10):
        sampler = sampler_cls(clip_len=dict(RGB=8, Pose=32), num_clips=num_clips, test_mode=True)
        for num_frames in [1, 2, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 103, 300]:
            ref = sampler.transform({"total_frames": num_frames, "modality": "Pose"})
            state = np.random.get_state()[1].copy()
            for modality, clip_len in (("RGB", 8), ("Pose", 32)):
                ours = uniform_test_indices(num_frames, clip_len, num_clips)
                np.testing.assert_array_equal(ours, ref[f"{modality}_inds"], err_msg=f"{num_frames=} {num_clips=}")
            assert np.array_equal(np.random.get_state()[1], state)  # our generator is private


def test_compact_box_matches_mmcompact(mm):
    compact = mm[1](hw_ratio=1.0, allow_imgpad=True)
    rng = np.random.default_rng(0)
    for case in range(300):
        persons, frames = rng.integers(1, 4), rng.integers(1, 40)
        centre, spread = rng.uniform(-200, 500, 2), rng.choice([3.0, 30.0, 300.0])
        kp = (centre + rng.normal(0, spread, (persons, frames, 17, 2))).astype(np.float32)
        kp[rng.random(kp.shape) < 0.1] = 0.0
        ref = compact._get_box(kp.copy(), (H, W))
        assert compact_box(kp, (H, W), 0.25, 10) == ref, case


def _mm_heatmaps(gen_cls, kp, score, size, sigma, scaling=1.0):
    gen = gen_cls(sigma=sigma, use_score=True, with_kp=True, with_limb=False, scaling=scaling)
    out = gen.transform({"keypoint": kp.copy(), "keypoint_score": score.copy(), "img_shape": size, "imgs": []})
    return out["heatmap_imgs"]  # [F, V, h, w]


@pytest.mark.parametrize("sigma", [0.6, 0.7, 1.3])
def test_heatmaps_match_generate_pose_target(mm, sigma):
    rng = np.random.default_rng(1)
    size = (20, 30)  # non-square: rows and columns cannot be swapped unnoticed
    persons, frames = 3, 12
    kp = rng.uniform(-6, 36, (persons, frames, 17, 2)).astype(np.float32)
    kp[0, :, :4] = rng.uniform(-3.3, -1.9, (frames, 4, 2))  # int() truncates toward zero, not down
    kp[1, :, :3] = kp[0, :, :3] + 0.4  # overlapping windows of two persons: maximum, not sum
    kp[2, :, 5] = [[29.6, 19.4]]  # on the far edges
    score = rng.uniform(0, 1, (persons, frames, 17)).astype(np.float32)
    score[rng.random(score.shape) < 0.2] = 0.0
    score[rng.random(score.shape) < 0.05] = 5e-5  # below eps
    ref = _mm_heatmaps(mm[0], kp, score, size, sigma)
    ours = pose_heatmaps(kp, score, size, sigma, clip_len=frames)[0].transpose(1, 0, 2, 3)
    assert ref.max() > 0.5
    assert np.abs(ours - ref).max() <= 1e-4


def test_heatmaps_clip_layout_and_scaling(mm):
    rng = np.random.default_rng(2)
    kp = rng.uniform(0, 256, (2, 64, 17, 2)).astype(np.float32)
    score = rng.uniform(0, 1, (2, 64, 17)).astype(np.float32)
    ref = _mm_heatmaps(mm[0], kp, score, (256, 256), 0.7, scaling=0.25)  # [64, 17, 64, 64]
    ours = pose_heatmaps(kp * np.float32(0.25), score, (64, 64), 0.7, clip_len=32)  # [2, 17, 32, 64, 64]
    expected = ref.reshape(2, 32, 17, 64, 64).transpose(0, 2, 1, 3, 4)  # FormatShape('NCTHW')
    assert np.abs(ours - expected).max() <= 1e-4


def test_heatmaps_skip_scores_below_eps(mm):
    kp = np.full((1, 4, 17, 2), 10.0, dtype=np.float32)
    score = np.full((1, 4, 17), 9e-5, dtype=np.float32)  # below mmaction2's 1e-4: nothing at all is drawn
    score[0, 2, 3] = 1e-4
    ours = pose_heatmaps(kp, score, (20, 20), 0.7, clip_len=4)[0]
    ref = _mm_heatmaps(mm[0], kp, score, (20, 20), 0.7).transpose(1, 0, 2, 3)
    assert np.flatnonzero(ours.reshape(17 * 4, -1).any(axis=1)).tolist() == [3 * 4 + 2]
    np.testing.assert_array_equal(ours != 0, ref != 0)


def test_heatmaps_nobody_and_far_away():
    kp = np.full((1, 32, 17, 2), 1e30, dtype=np.float32)
    out = pose_heatmaps(kp, np.ones((1, 32, 17), np.float32), (64, 64), 0.7, 32)
    assert out.shape == (1, 17, 32, 64, 64) and not out.any()
    empty = pose_heatmaps(np.zeros((0, 32, 17, 2), np.float32), np.zeros((0, 32, 17)), (64, 64), 0.7, 32)
    assert empty.shape == (1, 17, 32, 64, 64) and not empty.any()


def test_input_forms_agree(video40, skel40, tmp_path):
    ref = make_inputs(video40, skel40)
    json_path = tmp_path / "s.json"
    json_path.write_text(json.dumps(skel40))
    npz_path = tmp_path / "s.npz"
    np.savez(npz_path, **{k: np.asarray(v) for k, v in skel40.items()})
    for vid, skel in [
        (video40.read_bytes(), skel40),
        (str(video40), json_path),
        (video40, json_path.read_bytes()),
        (video40, npz_path),
        (video40, npz_path.read_bytes()),
    ]:
        out = make_inputs(vid, skel)
        np.testing.assert_array_equal(out["imgs"], ref["imgs"])
        np.testing.assert_array_equal(out["heatmaps"], ref["heatmaps"])


def test_normalized_coordinates_equal_pixels(video40):
    rng = np.random.default_rng(3)
    norm = rng.integers(8, 56, (1, 40, 17, 2)) / 64.0  # k/64: exact in float32 both ways
    pixel = norm * [W, H]
    score = rng.uniform(0.2, 1, (1, 40, 17)).tolist()
    ours = make_inputs(video40, {"keypoint": norm.tolist(), "keypoint_score": score, "coordinates": "normalized"})
    ref = make_inputs(video40, {"keypoint": pixel.tolist(), "keypoint_score": score, "img_shape": [H, W]})
    np.testing.assert_array_equal(ours["imgs"], ref["imgs"])
    np.testing.assert_array_equal(ours["heatmaps"], ref["heatmaps"])


def test_stages_compose_to_make_inputs(video40, skel40):
    cfg = PreprocessConfig()
    skel = load_skeleton(skel40)
    with open_video(video40) as vid:
        skel = fit_to_video(skel, vid.num_frames)
        plan = plan_clips(skel.num_frames, 2, cfg)
    frames, meta = decode_video(video40, plan.rgb_unique)
    assert (meta.num_frames, meta.height, meta.width) == (40, H, W) and meta.fps == pytest.approx(30)
    staged = build_inputs(frames, skel, plan, cfg)
    whole = make_inputs(video40, skel40, num_clips=2)
    np.testing.assert_array_equal(staged["imgs"], whole["imgs"])
    np.testing.assert_array_equal(staged["heatmaps"], whole["heatmaps"])


def test_decode_video_returns_requested_order(video40):
    frames, _ = decode_video(video40, [7, 3, 7, 0])
    single = {i: decode_video(video40, [i])[0][0] for i in (0, 3, 7)}
    for got, i in zip(frames, [7, 3, 7, 0], strict=True):
        np.testing.assert_array_equal(got, single[i])


def test_frames_reach_preprocessing_one_at_a_time(video40, skel40, monkeypatch):
    """make_inputs holds one decoded full-size frame at a time; the result is the staged one."""
    whole = build_inputs(*_staged(video40, skel40, 4))
    seen = []
    real_frames = video.Video.frames

    def frames(self, indices):
        for position, frame in real_frames(self, indices):
            seen.append((position, frame.shape))
            yield position, frame

    monkeypatch.setattr(video.Video, "frames", frames)
    streamed = make_inputs(video40, skel40, num_clips=4)
    assert [p for p, _ in seen] == list(range(len(seen))) and {s for _, s in seen} == {(H, W, 3)}
    np.testing.assert_array_equal(streamed["imgs"], whole["imgs"])
    np.testing.assert_array_equal(streamed["heatmaps"], whole["heatmaps"])


def _staged(path, skeleton, num_clips):
    cfg = PreprocessConfig()
    skel = load_skeleton(skeleton)
    with open_video(path) as vid:
        skel = fit_to_video(skel, vid.num_frames)
        plan = plan_clips(skel.num_frames, num_clips, cfg)
        return vid.decode(plan.rgb_unique), skel, plan, cfg


def test_concurrent_calls_are_independent(video40, skel40):
    ref = make_inputs(video40, skel40, num_clips=2)
    results, errors = [], []

    def work() -> None:
        try:
            results.append(make_inputs(video40.read_bytes(), json.dumps(skel40).encode(), num_clips=2))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 4
    for out in results:
        np.testing.assert_array_equal(out["imgs"], ref["imgs"])
        np.testing.assert_array_equal(out["heatmaps"], ref["heatmaps"])


def test_timings_split_decode_and_preprocess(video40, skel40):
    timings = {"inference": 1.0}
    make_inputs(video40, skel40, timings=timings)
    assert set(timings) == {"inference", "decode", "preprocess"}
    assert timings["decode"] > 0 and timings["preprocess"] > 0 and timings["inference"] == 1.0


@pytest.mark.parametrize("shape", [(3, 5), (1, 3, 8, 256, 256)])
def test_huge_page_arrays_are_ordinary_arrays(shape):
    zeros = huge_page_array(shape, zero=True)
    assert zeros.shape == shape and zeros.dtype == np.float32 and zeros.flags.c_contiguous and not zeros.any()
    if zeros.nbytes >= 4 << 20:
        assert zeros.ctypes.data % (2 << 20) == 0
    filled = huge_page_array(shape, np.uint8)
    filled[...] = 7
    assert filled.dtype == np.uint8 and (filled == 7).all()
