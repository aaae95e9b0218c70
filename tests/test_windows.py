"""Timeline windows: planning (boundaries, caps, typed errors) and inputs from one decode pass that equal
what each window would get as a video of its own."""

import math

import numpy as np
import pytest

from pcan_serve.errors import InvalidRequest, InvalidVideo
from pcan_serve.model.config import PreprocessConfig
from pcan_serve.preprocess import build_inputs, decode_video, load_skeleton, make_inputs, plan_clips
from pcan_serve.preprocess.limits import DEFAULT_MAX_WINDOWS as MAX_WINDOWS
from pcan_serve.preprocess.limits import Limits
from pcan_serve.preprocess.skeleton import Skeleton
from pcan_serve.preprocess.video import Video
from pcan_serve.preprocess.windows import check_window_request, open_windows, plan_windows, window_ranges

CFG = PreprocessConfig()


@pytest.mark.parametrize(
    "num_frames, fps, window, stride, expected",
    [
        (103, 30.0, 1.0, 0.5, [(0, 30), (15, 45), (30, 60), (45, 75), (60, 90), (73, 103)]),  # last one ends the video
        (100, 10.0, 2.0, 2.0, [(0, 20), (20, 40), (40, 60), (60, 80), (80, 100)]),  # strides reach the end exactly
        (50, 25.0, 10.0, 5.0, [(0, 50)]),  # a window longer than the video is the video
        (50, 25.0, 2.0, 2.0, [(0, 50)]),  # exactly as long
    ],
)
def test_window_ranges_boundaries(num_frames, fps, window, stride, expected):
    assert window_ranges(num_frames, fps, window, stride) == expected


@pytest.mark.parametrize("num_frames, fps, window, stride", [(1500, 25.0, 4.0, 2.0), (301, 29.97, 1.3, 0.7)])
def test_window_ranges_cover_every_frame_with_one_length(num_frames, fps, window, stride):
    ranges = window_ranges(num_frames, fps, window, stride)
    length = round(window * fps)
    assert all(e - s == length for s, e in ranges)
    assert ranges[0][0] == 0 and ranges[-1][1] == num_frames
    starts = [s for s, _ in ranges]
    assert all(0 < b - a <= math.ceil(stride * fps) for a, b in zip(starts, starts[1:], strict=False))
    covered = np.zeros(num_frames, bool)
    for s, e in ranges:
        covered[s:e] = True
    assert covered.all()


def test_window_count_is_capped():
    assert len(window_ranges(3000, 30.0, 1.0, 0.9)) <= MAX_WINDOWS
    with pytest.raises(InvalidRequest, match=f"at most {MAX_WINDOWS} are accepted"):
        window_ranges(3000, 30.0, 1.0, 0.1)
    with pytest.raises(InvalidRequest, match="at most 3 are accepted"):
        window_ranges(100, 10.0, 2.0, 2.0, max_windows=3)


def test_window_shorter_than_a_frame_and_missing_frame_rate_are_typed_errors():
    with pytest.raises(InvalidRequest, match="at least one frame"):
        window_ranges(100, 30.0, 0.01, 0.01)
    with pytest.raises(InvalidRequest, match="at least one frame"):
        window_ranges(100, 30.0, 1.0, 0.01)
    with pytest.raises(InvalidVideo, match="no frame rate"):
        window_ranges(100, 0.0, 1.0, 1.0)


@pytest.mark.parametrize(
    "window, stride, message",
    [
        (2.0, None, "go together"),
        (None, 1.0, "go together"),
        (0.0, 1.0, "window: expected a positive"),
        (-1.0, -1.0, "window: expected a positive"),
        (float("nan"), 1.0, "window: expected a positive"),
        (float("inf"), 1.0, "window: expected a positive"),
        (2.0, True, "stride: expected a positive"),
        ("2", 1.0, "window: expected a positive"),
        (1.0, 2.0, "would leave gaps"),
    ],
)
def test_window_request_checks(window, stride, message):
    with pytest.raises(InvalidRequest, match=message):
        check_window_request(window, stride)


def test_window_request_accepts_numbers_or_nothing():
    assert check_window_request(None, None) is None
    assert check_window_request(4, 2.5) == (4.0, 2.5)


def test_each_window_is_sampled_like_a_video_of_its_own():
    windows = plan_windows(103, 30.0, 1.0, 0.5, 2, CFG)
    local = plan_clips(30, 2, CFG)
    for w in windows:
        assert (w.start, w.end) == pytest.approx((w.start_frame / 30, w.end_frame / 30))
        np.testing.assert_array_equal(w.plan.rgb, local.rgb + w.start_frame)
        np.testing.assert_array_equal(w.plan.pose, local.pose + w.start_frame)
        assert w.plan.rgb.min() >= w.start_frame and w.plan.rgb.max() < w.end_frame


@pytest.fixture(scope="module")
def one_pass(sample_video, sample_skeleton):
    """Every span of a 1 s / 0.5 s timeline of the NTU sample, with the decoder's calls counted."""
    calls: list[list[int]] = []
    original = Video.frames

    def counting(self, indices):
        calls.append([])
        for position, frame in original(self, indices):
            calls[-1].append(int(np.asarray(indices)[position]))
            yield position, frame

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Video, "frames", counting)
        windowed = open_windows(sample_video, sample_skeleton, 1.0, 0.5, num_clips=2)
        spans = list(windowed.inputs())
    return windowed, spans, calls


def test_one_decode_pass_each_frame_once(one_pass):
    windowed, spans, calls = one_pass
    assert len(calls) == 1  # one pass over the file
    [decoded] = calls
    union = np.unique(np.concatenate([w.plan.rgb for w in [*windowed.windows, windowed.whole]]))
    assert decoded == union.tolist() == sorted(set(decoded))  # in order, each distinct frame once
    assert windowed.decoded == len(union)
    per_window = sum(len(w.plan.rgb_unique) for w in [*windowed.windows, windowed.whole])
    assert per_window > len(union)  # what one decode per window would have decoded
    assert len(spans) == len(windowed.windows) + 1 == windowed.clip_count // 2
    assert [id(s) for s, _ in spans if s is not windowed.whole] == [id(w) for w in windowed.windows]


def test_whole_video_span_equals_make_inputs(one_pass, sample_video, sample_skeleton):
    windowed, spans, _ = one_pass
    [whole] = [inputs for span, inputs in spans if span is windowed.whole]
    ref = make_inputs(sample_video, sample_skeleton, num_clips=2)
    for key in ("imgs", "heatmaps"):
        np.testing.assert_array_equal(whole[key], ref[key])


def test_window_inputs_equal_the_window_cut_out_as_a_video(one_pass, sample_video, sample_skeleton):
    """Frames, person box and heatmaps of a window come from that window alone."""
    windowed, spans, _ = one_pass
    skel = load_skeleton(sample_skeleton)
    for span, inputs in spans[1:4]:
        s, e = span.start_frame, span.end_frame
        cut = Skeleton(skel.keypoint[:, s:e], skel.keypoint_score[:, s:e], skel.img_shape)
        plan = plan_clips(e - s, 2, CFG)
        frames, _ = decode_video(sample_video, plan.rgb_unique + s)
        ref = build_inputs(frames, cut, plan, CFG)
        for key in ("imgs", "heatmaps"):
            np.testing.assert_array_equal(inputs[key], ref[key])


def test_bad_windows_fail_before_any_frame_is_decoded(sample_video, sample_skeleton, monkeypatch):
    def no_decoding(self, indices):
        raise AssertionError("decoded a frame")

    monkeypatch.setattr(Video, "frames", no_decoding)
    with pytest.raises(InvalidRequest, match="at most 4 are accepted"):
        open_windows(sample_video, sample_skeleton, 1.0, 0.5, limits=Limits(max_windows=4))
    with pytest.raises(InvalidRequest, match="would leave gaps"):
        open_windows(sample_video, sample_skeleton, 1.0, 1.5)
    with pytest.raises(InvalidRequest, match="num_clips"):
        open_windows(sample_video, sample_skeleton, 1.0, 0.5, num_clips=0)
