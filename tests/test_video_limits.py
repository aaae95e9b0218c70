"""Hostile videos: frame size and frame count are checked from the header before any frame is decoded, and
again while decoding (headers lie), within a bounded amount of memory; nothing but the video file is read."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_preprocess_errors import good, raises
from test_preprocess_fixtures import write_video
from video_fixtures import declare_frames, encode, mux_jpeg

from pcan_serve.errors import FrameTooLarge, InvalidVideo, VideoTooLong
from pcan_serve.http.errors import status_of
from pcan_serve.preprocess import Limits, make_inputs, open_video
from pcan_serve.preprocess.decode_cpu import CpuDecoder
from pcan_serve.preprocess.limits import DEFAULT_MAX_PIXELS

BOMB = (16000, 16000)  # 256 Mpixels: one decoded frame is 384 MiB as YUV, 768 MiB as RGB


@pytest.fixture(scope="module")
def bombs(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bombs")
    return {
        "declared": mux_jpeg(folder / "declared.avi", BOMB),
        "lying": mux_jpeg(folder / "lying.avi", BOMB, declared=(240, 320)),
    }


def test_a_declared_frame_size_over_the_cap_is_refused_before_decoding(bombs, monkeypatch):
    monkeypatch.setattr(CpuDecoder, "_decoded", lambda *_: pytest.fail("a frame was decoded"))
    with raises(FrameTooLarge, "declared.avi has 16000x16000 frames", f"at most {DEFAULT_MAX_PIXELS} pixels"):
        open_video(bombs["declared"])
    with raises(FrameTooLarge, "the upload (", "16000x16000"):
        make_inputs(bombs["declared"].read_bytes(), good(3))
    assert status_of(FrameTooLarge()) == 413


def test_frames_larger_than_their_header_says_are_refused_while_decoding(bombs):
    with open_video(bombs["lying"]) as vid:  # the header says 320x240: it opens
        assert vid.num_frames == 3
        with raises(FrameTooLarge, "lying.avi has frames larger than its header says"):
            vid.decode(np.array([0]))
    with raises(FrameTooLarge, "lying.avi"):
        make_inputs(bombs["lying"], good(3))


def test_bombs_stay_within_a_memory_budget(bombs):
    """Peak memory of a fresh process refusing both bombs, against the same process decoding a small video."""
    code = f"""
import json, resource
from pcan_serve.preprocess import open_video
def peak(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
with open_video({str(write_video(bombs["declared"].parent / "small.avi", 5))!r}) as v: v.decode([0, 4])
before, errors = peak(), []
for path in {[str(p) for p in bombs.values()]!r}:
    try:
        with open_video(path) as v: v.decode([0, 1, 2])
    except Exception as exc: errors.append(type(exc).__name__)
print(json.dumps({{"before": before, "after": peak(), "errors": errors}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["errors"] == ["FrameTooLarge", "FrameTooLarge"]
    assert res["after"] - res["before"] < 128, res  # MiB; decoding one bomb frame would take 384


def test_max_pixels_is_a_per_frame_cap(tmp_path):
    path = write_video(tmp_path / "v.avi", 20)  # 320x240
    assert make_inputs(path, good(), limits=Limits(max_pixels=320 * 240))["imgs"].shape == (1, 3, 8, 256, 256)
    with raises(FrameTooLarge, "320x240 frames (76800 pixels), at most 76799"):
        make_inputs(path, good(), limits=Limits(max_pixels=320 * 240 - 1))


def test_a_header_that_understates_the_frame_count_is_counted_out(tmp_path):
    path = declare_frames(write_video(tmp_path / "v.avi", 20), 3)
    with open_video(path) as vid:
        assert vid.num_frames == 20  # counted from the packets, not taken from the header
    with raises(VideoTooLong, "more than 10 frames, at most 10"):
        open_video(path, max_frames=10)


def test_frames_are_counted_as_they_are_decoded(tmp_path):
    path = encode(tmp_path / "v.avi", "libx264", 20)  # AVI, not intra-only: decoded from the start, counted
    decoder = CpuDecoder(str(path), path.name, max_frames=20, max_pixels=DEFAULT_MAX_PIXELS)
    decoder.max_frames = 5  # as if the packets had been fewer than the frames they decode to
    with raises(VideoTooLong, "more than 5 frames"):
        list(decoder.frames(np.array([2, 9])))


def test_a_playlist_cannot_make_ffmpeg_read_other_files(tmp_path):
    write_video(tmp_path / "other.avi", 20)
    playlist = tmp_path / "upload.avi"
    playlist.write_text("ffconcat version 1.0\nfile other.avi\n")  # FFmpeg would open other.avi
    with raises(InvalidVideo, "upload.avi cannot be decoded as a video"):
        make_inputs(playlist, good())


def test_messages_name_the_upload_never_a_path(tmp_path):
    data = b"\x00\x00\x01\xba" + b"\x00" * 3000
    with pytest.raises(InvalidVideo) as info:
        make_inputs(data, good())
    assert "the upload (3004 bytes)" in str(info.value) and "/" not in str(info.value)
