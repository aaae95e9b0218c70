"""Pooled output buffers and the helper thread: reuse only once nothing references a buffer, zeroed when
asked, capped; results identical with or without the helper, and a busy helper never holds a request up."""

import threading
import time

import numpy as np
import pytest
import torch
from test_preprocess_fixtures import person_track, skeleton_dict, write_video

from pcan_serve.model.config import PreprocessConfig
from pcan_serve.preprocess import build_inputs, fit_to_video, load_skeleton, open_video, plan_clips, second_core
from pcan_serve.preprocess.buffers import POOL, huge_page_array

BIG = (1, 17, 32, 64, 64)  # 8.9 MB: pooled


def _span(a: np.ndarray) -> tuple[int, int]:
    return a.ctypes.data, a.ctypes.data + a.nbytes


def _overlap(a: np.ndarray, b: np.ndarray) -> bool:
    (a0, a1), (b0, b1) = _span(a), _span(b)
    return a0 < b1 and b0 < a1


@pytest.fixture
def empty_pool():
    POOL.clear()
    yield POOL
    POOL.clear()


def test_buffer_is_reused_only_after_every_view_is_gone(empty_pool):
    first = huge_page_array(BIG, zero=True)
    first[...] = 3.0
    view, tensor = first[0, 4], torch.from_numpy(first)
    del first
    assert empty_pool.idle_bytes == 0  # the view and the tensor still use it
    second = huge_page_array(BIG, zero=True)
    assert not _overlap(second, view) and (view == 3.0).all() and (tensor == 3.0).all()
    del view
    assert empty_pool.idle_bytes == 0
    address = tensor.data_ptr()
    del tensor
    assert empty_pool.idle_bytes > 0
    third = huge_page_array(BIG, zero=True)
    assert third.ctypes.data == address and not third.any()  # reused, and zeroed as asked
    assert third.flags.writeable and third.flags.c_contiguous and third.ctypes.data % (2 << 20) == 0


def test_idle_buffers_are_capped(empty_pool, monkeypatch):
    monkeypatch.setattr(empty_pool, "max_idle_bytes", 12 << 20)
    arrays = [huge_page_array(BIG) for _ in range(3)]
    del arrays
    assert 0 < empty_pool.idle_bytes <= 12 << 20


def test_once_computes_once_across_threads():
    calls = []
    once = second_core.Once(lambda: calls.append(1) or time.sleep(0.05) or 7)
    results = []
    threads = [threading.Thread(target=lambda: results.append(once())) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [7] * 4 and calls == [1]


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    video = write_video(tmp_path_factory.mktemp("v") / "v.avi", num_frames=40)
    a = person_track(40, (60, 30, 90, 180), seed=1)
    b = person_track(40, (150, 40, 90, 170), seed=2)
    cfg = PreprocessConfig()
    skel = load_skeleton(skeleton_dict([a[0], b[0]], [a[1], b[1]], (240, 320)))
    with open_video(video) as vid:
        skel = fit_to_video(skel, vid.num_frames)
        plan = plan_clips(skel.num_frames, 4, cfg)
        frames = vid.decode(plan.rgb_unique)
    return frames, skel, plan, cfg


def test_helper_changes_nothing_and_a_busy_helper_holds_nothing_up(staged, monkeypatch):
    monkeypatch.setattr(second_core, "ENABLED", False)
    alone = build_inputs(*staged)
    monkeypatch.setattr(second_core, "ENABLED", True)
    shared = build_inputs(*staged)
    release = threading.Event()
    blocker = second_core.executor().submit(release.wait, 30)  # the helper is busy elsewhere
    try:
        start = time.perf_counter()
        busy = build_inputs(*staged)
        assert time.perf_counter() - start < 10
    finally:
        release.set()
        blocker.result()
    for out in (shared, busy):
        np.testing.assert_array_equal(out["imgs"], alone["imgs"])
        np.testing.assert_array_equal(out["heatmaps"], alone["heatmaps"])
