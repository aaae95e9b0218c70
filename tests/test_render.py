"""Annotated videos and timeline plots, checked by decoding what was written: the overlay is where the skeleton
is, the panel is drawn, the rest of the frame is the source video."""

import json

import av
import cv2
import numpy as np
import pytest

from pcan_serve.errors import SkeletonVideoMismatch
from pcan_serve.preprocess import Limits, load_skeleton, open_video
from pcan_serve.preprocess.skeleton import frame_pixel_keypoints
from pcan_serve.render import annotate_video, plot_timeline, write_pictures
from pcan_serve.render.annotate import output_size
from pcan_serve.render.answers import moment_at, owned_spans
from pcan_serve.render.overlay import PERSON_COLORS
from pcan_serve.runtime import PredictOptions, Predictor
from pcan_serve.runtime.timeline import run_timeline


@pytest.fixture(scope="module")
def timeline(tiny_ckpt, sample_video, sample_skeleton) -> dict:
    predictor = Predictor.from_path(tiny_ckpt, device="cpu")
    options = PredictOptions(top_k=5, window=1.0, stride=0.5)
    return run_timeline(predictor, sample_video, sample_skeleton, options, sample_video.name).to_dict()


def decoded(path) -> tuple[list[np.ndarray], av.VideoStream]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [f.to_ndarray(format="rgb24") for f in container.decode(stream)], stream


def test_annotated_ntu_sample_carries_the_overlay(timeline, sample_video, sample_skeleton, tmp_path):
    seen: list[tuple[int, int]] = []
    out = annotate_video(
        sample_video, sample_skeleton, timeline, tmp_path / "a.mp4", progress=lambda *a: seen.append(a)
    )
    assert seen == [(i, 103) for i in range(1, 104)]
    frames, stream = decoded(out)
    assert stream.codec_context.name == "h264" and stream.average_rate == 30
    assert len(frames) == 103 and frames[0].shape == (720, 1280, 3)  # 1920x1080 capped at 1280, aspect kept
    with open_video(sample_video) as video:
        source = {i: cv2.resize(f, (1280, 720), interpolation=cv2.INTER_AREA) for i, f in video.frames([0, 51, 102])}
    skel = load_skeleton(sample_skeleton)
    kp = frame_pixel_keypoints(skel, np.arange(103), (1080, 1920)) * np.float32(1280 / 1920)
    for i, src in source.items():
        got, src = frames[i].astype(int), src.astype(int)
        joints = [np.round(p).astype(int) for p, s in zip(kp[0, i], skel.keypoint_score[0, i], strict=True) if s > 0.5]
        colour = [np.abs(got[y, x] - PERSON_COLORS[0]).max() for x, y in joints]
        change = [  # 3x3 around each joint
            np.abs(got[y - 1 : y + 2, x - 1 : x + 2] - src[y - 1 : y + 2, x - 1 : x + 2]).mean() for x, y in joints
        ]
        assert len(joints) >= 12 and np.median(colour) < 40 and np.median(change) > 40, (i, colour, change)
        assert np.abs(got[600:, 1000:] - src[600:, 1000:]).mean() < 5  # away from the overlay: the source video
        panel = got[:120, :360]
        assert np.median(panel) < 0.5 * np.median(src[:120, :360])  # darkened behind the text
        assert (panel.min(axis=2) > 200).sum() > 300  # white text on it (the darkened wall stays below 90)


def test_small_odd_sized_video_two_persons(tmp_path, timeline):
    """Size kept (made even), every frame written, each person in its own colour."""
    h, w, n = 201, 267, 12
    path = tmp_path / "small.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (w, h))
    for _ in range(n):
        writer.write(np.full((h, w, 3), 40, np.uint8))
    writer.release()
    base = np.stack([np.linspace(40, 220, 17), np.linspace(140, 160, 17)], axis=-1)  # below the panel
    kp = np.stack([np.repeat(base[None], n, 0), np.repeat((base + [0, 35])[None], n, 0)])  # [2, n, 17, 2]
    skeleton = {"keypoint": kp.tolist(), "keypoint_score": np.ones((2, n, 17)).tolist(), "img_shape": [h, w]}
    frames, stream = decoded(annotate_video(path, skeleton, timeline, tmp_path / "small.mp4"))
    assert len(frames) == n and frames[0].shape == (200, 266, 3) and stream.average_rate == 10
    last = frames[-1].astype(int)
    for person in (0, 1):
        x, y = np.round(kp[person, -1, 16] * [266 / w, 200 / h]).astype(int)  # the last joint: drawn last, on top
        assert np.abs(last[y, x] - PERSON_COLORS[person]).max() < 60, (person, last[y, x])


def test_failed_annotation_leaves_no_file(sample_video, sample_skeleton, timeline, tmp_path):
    wrong = {"keypoint": np.zeros((1, 50, 17, 2)).tolist()}  # 50 frames for a 103-frame video
    with pytest.raises(SkeletonVideoMismatch):
        annotate_video(sample_video, wrong, timeline, tmp_path / "x.mp4")
    assert list(tmp_path.iterdir()) == []

    def interrupt(done: int, total: int) -> None:
        if done == 10:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # stopped half-way: neither the file nor its partial copy stays
        annotate_video(sample_video, sample_skeleton, timeline, tmp_path / "x.mp4", progress=interrupt)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "shape, expected",
    [((1080, 1920), (720, 1280)), ((720, 1280), (720, 1280)), ((75, 101), (74, 100)), ((4000, 3000), (1280, 960))],
)
def test_output_size(shape, expected):
    assert output_size(*shape) == expected


def test_each_moment_shows_the_window_centred_nearest(timeline):
    windows = timeline["timeline"]
    for t in (0.0, 0.74, 0.76, 1.6, 3.4):
        centres = [(w["start"] + w["end"]) / 2 for w in windows]
        nearest = windows[int(np.argmin([abs(c - t) for c in centres]))]
        moment = moment_at(timeline, t)
        assert moment.span == (nearest["start"], nearest["end"]) and moment.top_k == nearest["top_k"]
        assert moment.span[0] <= t <= moment.span[1] or t > windows[-1]["end"]
    whole = moment_at({k: v for k, v in timeline.items() if k != "timeline"}, 1.0)
    assert whole.span is None and whole.top_k == timeline["top_k"] and set(whole.branches) == {"rgb", "pose", "fused"}
    spans = owned_spans(windows)
    assert spans[0][0] == 0.0 and spans[-1][1] == windows[-1]["end"]
    for (a, b), w in zip(spans, windows, strict=True):
        assert moment_at(timeline, (a + b) / 2).span == (w["start"], w["end"])


def test_timeline_plot(timeline, tmp_path):
    out = plot_timeline(timeline, tmp_path / "t.png")
    img = cv2.imread(str(out))[..., ::-1]
    assert img.shape == (420, 1000, 3)
    tab10_blue = np.array([31, 119, 180])  # the first class's colour, blended by the bars' alpha 0.85
    bars = (np.abs(img.astype(int) - (0.85 * tab10_blue + 0.15 * 255)).max(axis=2) < 8).sum()
    assert bars > 5000  # the class bars are drawn
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 50  # text, lines, legend: not a blank canvas
    with pytest.raises(ValueError, match="no timeline"):
        plot_timeline({k: v for k, v in timeline.items() if k != "timeline"}, tmp_path / "none.png")
    json.dumps(timeline)  # the prediction object a plot is drawn from is plain JSON


def test_pictures_per_input(timeline, sample_video, sample_skeleton, tmp_path):
    stem = sample_video.stem
    limits = Limits(max_frames=200, max_persons=2)
    written = write_pictures(sample_video, sample_skeleton, timeline, tmp_path, limits=limits)  # as the CLI does
    assert written == [tmp_path / f"{stem}.mp4", tmp_path / f"{stem}.timeline.png"]
    assert all(p.stat().st_size > 10_000 for p in written)
    whole = {k: v for k, v in timeline.items() if k != "timeline"}  # no windows asked for: no plot
    folder = tmp_path / "whole"
    folder.mkdir()
    assert write_pictures(sample_video, sample_skeleton, whole, folder) == [folder / f"{stem}.mp4"]
    assert [p.name for p in folder.iterdir()] == [f"{stem}.mp4"]
