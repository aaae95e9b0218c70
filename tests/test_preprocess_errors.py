"""Bad input: every case raises its own typed error, with a message naming the field and the expectation."""

import json
from collections.abc import Iterator
from contextlib import contextmanager

import cv2
import numpy as np
import pytest
from test_preprocess_fixtures import person_track, skeleton_dict, write_video

from pcan_serve.errors import (
    EmptyVideo,
    InvalidRequest,
    InvalidSkeleton,
    InvalidVideo,
    MissingInput,
    SkeletonVideoMismatch,
    TooManyClips,
    TooManyPersons,
    VideoTooLong,
)
from pcan_serve.http.errors import status_of
from pcan_serve.preprocess import Limits, load_skeleton, make_inputs, open_video

H, W = 240, 320


@pytest.fixture(scope="module")
def video20(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("v") / "v20.avi", num_frames=20)


def good(num_frames: int = 20, persons: int = 1) -> dict:
    tracks = [person_track(num_frames, (60 + 40 * p, 30, 90, 180), seed=p) for p in range(persons)]
    return skeleton_dict([t[0] for t in tracks], [t[1] for t in tracks], (H, W))


@contextmanager
def raises(error: type, *fragments: str) -> Iterator[None]:
    """Exactly ``error`` (not a subclass or parent) with a message containing every fragment."""
    with pytest.raises(Exception) as info:
        yield
    assert type(info.value) is error, f"{type(info.value).__name__}: {info.value}"
    for fragment in fragments:
        assert fragment in str(info.value), f"{fragment!r} not in {str(info.value)!r}"


def _with(**changes) -> dict:
    skel = good()
    skel.update(changes)
    return skel


@pytest.mark.parametrize(
    ("skeleton", "fragments"),
    [
        (b"{not json", ("not valid JSON",)),
        (b"[1, 2]", ("expected a JSON object",)),
        ({"keypoint_score": []}, ("keypoint: missing", "[persons, frames, 17, 2]")),
        (_with(keypoint=np.zeros((1, 20, 16, 2)).tolist()), ("keypoint: expected shape", "got [1, 20, 16, 2]")),
        (_with(keypoint=np.zeros((1, 20, 17, 3)).tolist()), ("keypoint: expected shape", "got [1, 20, 17, 3]")),
        (_with(keypoint=[[[[1, 2]] * 17] * 20, [[[1, 2]] * 17] * 19]), ("keypoint", "rectangular array")),
        (_with(keypoint=[[[["a", "b"]] * 17] * 20]), ("keypoint: expected real numbers",)),
        (_with(keypoint=[[[[None, 1]] * 17] * 20]), ("keypoint", "array of numbers")),
        (_with(keypoint=[[[[float("nan"), 1.0]] * 17] * 20]), ("keypoint: expected finite float32 numbers", "NaN")),
        (_with(keypoint=np.zeros((1, 0, 17, 2)).tolist(), total_frames=None), ("keypoint: expected at least one",)),
        (_with(keypoint_score=np.full((1, 20, 17), 1.5).tolist()), ("keypoint_score: expected values in [0, 1]",)),
        (_with(keypoint_score=np.full((1, 20, 17), -0.1).tolist()), ("keypoint_score: expected values in [0, 1]",)),
        (_with(keypoint_score=np.ones((1, 20, 16)).tolist()), ("keypoint_score: expected shape [1, 20, 17]",)),
        (_with(keypoint_score=[[[float("inf")] * 17] * 20]), ("keypoint_score: expected finite numbers",)),
        (_with(total_frames=21), ("total_frames: 21 disagrees with the 20 frames",)),
        (_with(total_frames="20"), ("total_frames: expected a non-negative integer",)),
        (_with(img_shape=[240]), ("img_shape: expected [height, width]",)),
        (_with(img_shape=[240, -320]), ("img_shape: expected [height, width]",)),
        (_with(coordinates="meters"), ("coordinates: expected one of ['pixel', 'normalized']",)),
        (12, ("skeleton: expected a path, bytes or a dict",)),
        (b"[" * 100000 + b"]" * 100000, ("JSON nested too deeply",)),
        (_with(keypoint=np.full((1, 20, 17, 2), 1e300).tolist()), ("keypoint: expected finite float32 numbers",)),
    ],
)
def test_invalid_skeleton(skeleton, fragments):
    with raises(InvalidSkeleton, *fragments):
        load_skeleton(skeleton)


def test_skeleton_npz_with_pickled_objects_is_refused(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, keypoint=np.array([{"x": 1}], dtype=object))
    with raises(InvalidSkeleton, "evil.npz", "without pickled objects"):
        load_skeleton(path)


def test_skeleton_longer_than_the_frame_cap():
    with raises(InvalidSkeleton, "keypoint: 40 frames, at most 30"):
        load_skeleton(good(40), max_frames=30)


def test_too_many_persons(video20):
    with raises(TooManyPersons, "keypoint: 3 persons, at most 2"):
        make_inputs(video20, good(persons=3), limits=Limits(max_persons=2))
    with raises(TooManyPersons, "keypoint: 11 persons, at most 10"):
        load_skeleton(good(persons=11))


@pytest.mark.parametrize("frames", [17, 23])
def test_frame_count_mismatch(video20, frames):
    with raises(SkeletonVideoMismatch, f"the skeleton has {frames} frames, the video 20", "at most 2 frames"):
        make_inputs(video20, good(frames))


def test_aspect_ratio_mismatch(video20):
    with raises(SkeletonVideoMismatch, "img_shape: the skeleton's [320, 240]", "aspect ratio", "240x320"):
        make_inputs(video20, _with(img_shape=[320, 240]))


def test_keypoints_far_outside_the_frame(video20):
    skel = good()
    kp = np.array(skel["keypoint"])
    kp[0, 5, 3] = [5000.0, 100.0]
    skel["keypoint"] = kp.tolist()
    with raises(SkeletonVideoMismatch, "keypoint: the joints span", "for 320x240 frames"):
        make_inputs(video20, skel)


def test_coordinates_overflowing_when_scaled(video20):
    skel = _with(img_shape=[3, 4], keypoint=np.full((1, 20, 17, 2), 3e37).tolist())  # x80 overflows float32
    with raises(SkeletonVideoMismatch, "keypoint: coordinates beyond 1e+07 px", "320x240"):
        make_inputs(video20, skel)


def test_invalid_video(video20, tmp_path):
    with raises(InvalidVideo, "cannot be decoded as a video"):
        make_inputs(b"definitely not a video" * 100, good())
    text = tmp_path / "notes.avi"
    text.write_text("hello")
    with raises(InvalidVideo, "notes.avi cannot be decoded as a video"):
        make_inputs(text, good())
    with raises(InvalidVideo, "the upload (2000 bytes) cannot be decoded as a video"):
        make_inputs(video20.read_bytes()[:2000], good())  # cut inside the header
    with raises(InvalidVideo, "video: expected a path or bytes"):
        make_inputs(12345, good())


def test_truncated_upload_does_not_crash(video20):
    """decord's in-memory reader segfaulted on this input (decord 0.6.0); PyAV reads uploads from memory: the
    first half of the file holds 11 whole frames, which are used, and a skeleton of all 20 no longer fits."""
    half = video20.read_bytes()[: video20.stat().st_size // 2]
    with open_video(half) as video:
        assert video.num_frames == 11
    assert make_inputs(half, good(11))["imgs"].shape == (1, 3, 8, 256, 256)
    with raises(SkeletonVideoMismatch, "the skeleton has 20 frames, the video 11"):
        make_inputs(half, good(20))


def test_empty_video(tmp_path):
    with raises(EmptyVideo, "the upload is empty (0 bytes)"):
        make_inputs(b"", good())
    empty = tmp_path / "empty.avi"
    empty.write_bytes(b"")
    with raises(EmptyVideo, "empty.avi is empty (0 bytes)"):
        make_inputs(empty, good())
    header_only = tmp_path / "no_frames.avi"
    cv2.VideoWriter(str(header_only), cv2.VideoWriter_fourcc(*"MJPG"), 30, (W, H)).release()
    assert header_only.stat().st_size > 0
    with raises(EmptyVideo, "no_frames.avi has no decodable frames"):
        make_inputs(header_only, good())


def test_video_too_long(video20):
    with raises(VideoTooLong, "video: 20 frames, at most 10"):
        make_inputs(video20, good(10), limits=Limits(max_frames=10))


def test_missing_inputs(video20, tmp_path):
    with raises(MissingInput, "video file not found", "absent.avi"):
        make_inputs(tmp_path / "absent.avi", good())
    with raises(MissingInput, "skeleton file not found", "absent.json"):
        make_inputs(video20, tmp_path / "absent.json")


@pytest.mark.parametrize("num_clips", [0, -1, True, 1.5, "2"])
def test_bad_num_clips(video20, num_clips):
    with raises(InvalidRequest, "num_clips: expected an integer from 1 to 10"):
        make_inputs(video20, good(), num_clips=num_clips)


def test_clips_over_the_limit_are_refused_naming_it(video20):
    with raises(TooManyClips, "num_clips 11 is over the limit of 10 clips per request"):
        make_inputs(video20, good(), num_clips=11)
    with raises(TooManyClips, "num_clips 4 is over the limit of 3"):
        make_inputs(video20, good(), num_clips=4, limits=Limits(max_clips=3))
    assert make_inputs(video20, good(), num_clips=3, limits=Limits(max_clips=3))["imgs"].shape[0] == 3


def test_errors_carry_type_and_status(video20):
    try:
        make_inputs(video20, json.dumps(good(30)).encode())
    except SkeletonVideoMismatch as exc:
        assert exc.type == "SkeletonVideoMismatch" and status_of(exc) == 422
    else:  # pragma: no cover
        pytest.fail("no error")
