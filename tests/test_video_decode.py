"""The PyAV decoder: only the packets the sampled frames need, and still exactly the frames a full decode shows
(B-frames, open GOPs, every container kind), equal to decord's (mmaction2's decoder) frame for frame."""

import hashlib

import av
import decord
import numpy as np
import pytest
from test_preprocess_fixtures import write_video
from video_fixtures import declare_frames, encode

from pcan_serve.preprocess import open_video, plan_clips, uniform_test_indices
from pcan_serve.preprocess.decode_cpu import CpuDecoder, _Missed
from pcan_serve.preprocess.decode_plan import PASS, SKIP, WANT, PacketIndex, packet_actions, presentation_ranks
from pcan_serve.preprocess.sources import ntu_sample

X264 = "keyint=12:min-keyint=12:scenecut=0:bframes=3:b-adapt=0"  # fixed B-frames: reordering is certain
ENCODINGS = {  # name: (codec, options, frames are addressed by timestamps)
    "closed_gop.mp4": ("libx264", {"x264-params": X264}, True),
    "open_gop.mp4": ("libx264", {"x264-params": X264 + ":open-gop=1"}, True),
    "open_gop.mkv": ("libx264", {"x264-params": X264 + ":open-gop=1"}, True),
    "b_frames.ts": ("libx264", {"x264-params": X264}, True),
    "hevc.mkv": ("libx265", {"x265-params": "keyint=10:bframes=3:b-adapt=0:log-level=error"}, True),
    "mpeg4.mp4": ("mpeg4", {"g": "10", "bf": "2"}, True),
    "b_frames.avi": ("libx264", {"x264-params": X264}, False),  # AVI: decode-order counters, frames counted
    "vp9.webm": ("libvpx-vp9", {"g": "12", "auto-alt-ref": "1", "lag-in-frames": "8"}, True),  # hidden alt-ref
    "mjpeg.avi": ("mjpeg", {}, True),  # every frame a keyframe: addressed directly
    "vfr.mp4": ("libx264", {"x264-params": X264}, True),
    "lying_count.avi": ("libx264", {"x264-params": X264}, False),  # the header claims 200 frames
}
VFR_PTS = np.cumsum([0] + [1 + (t * 7) % 3 for t in range(47)]).tolist()  # 1-3 ticks between frames


def every_frame(path) -> np.ndarray:
    """The definition: every frame, in the order a plain decode from the start shows them."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_count = 1
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(stream)])


@pytest.fixture(scope="module", params=sorted(ENCODINGS))
def encoded(request, tmp_path_factory):
    codec, options, stamped = ENCODINGS[request.param]
    extra = {"pts": VFR_PTS} if request.param == "vfr.mp4" else {}
    extra |= {"pix_fmt": "yuvj420p"} if codec == "mjpeg" else {}
    path = encode(tmp_path_factory.mktemp("enc") / request.param, codec, **extra, **options)
    if request.param == "lying_count.avi":
        declare_frames(path, 200)
    return path, stamped, every_frame(path)


def test_sampled_frames_equal_a_full_decode(encoded, monkeypatch):
    path, stamped, frames = encoded
    if stamped:  # the skipping decode alone must be right: no fallback to counting
        monkeypatch.setattr(CpuDecoder, "_by_count", lambda *_: pytest.fail("fell back to counting"))
    rng = np.random.default_rng(0)
    with open_video(path) as vid:
        assert vid.num_frames == len(frames) == 48
        assert (presentation_ranks(vid._decoder._index) is not None) == stamped
        for indices in index_sets(rng, 48):
            np.testing.assert_array_equal(vid.decode(indices), frames[indices], err_msg=f"{path.name} {indices}")


def index_sets(rng: np.random.Generator, n: int) -> list[np.ndarray]:
    """Random sets (sorted, distinct: repeats collapse as the clip plan does), first and last frame, and the
    frames of mmaction2's test sampling at num_clips 10 with clip_len 8 and 32."""
    sets = [np.sort(rng.choice(n, k, replace=False)) for k in (1, 2, 3, 5, 8, 8, 13, 20, n)]
    sets += [np.unique(rng.integers(0, n, 24)), np.array([0]), np.array([n - 1]), np.array([0, n - 1])]
    return sets + [np.unique(uniform_test_indices(n, length, 10)) for length in (8, 32)]


def test_sampled_frames_of_the_ntu_sample_equal_a_full_decode():
    """The real NTU clip (H.264 High in AVI, one keyframe, B-frames): 15 index sets against a full decode,
    compared by per-frame digests (all 103 frames of 1080p would hold 640 MB)."""
    video, _ = ntu_sample()
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_count = 1
        digests = [hashlib.sha1(f.to_ndarray(format="rgb24").tobytes()).hexdigest() for f in container.decode(stream)]
    rng = np.random.default_rng(1)
    with open_video(video) as vid:
        assert vid.num_frames == len(digests) == 103
        for indices in index_sets(rng, 103):
            got = [hashlib.sha1(np.ascontiguousarray(f).tobytes()).hexdigest() for f in vid.decode(indices)]
            assert got == [digests[i] for i in indices], indices


def test_skipping_decodes_less_where_timestamps_allow(tmp_path):
    path = encode(tmp_path / "g12.mp4", "libx264", **{"x264-params": X264})
    decoder = CpuDecoder(str(path), path.name, 3000, 2**24)
    wanted = np.array([30, 40])
    actions = packet_actions(decoder._index, presentation_ranks(decoder._index), wanted)
    assert actions[:24].tolist() == [SKIP] * 24 and actions[24] == PASS  # from the keyframe before frame 30
    assert (actions == WANT).sum() == 2 and SKIP in actions[25:36]  # GOP 24-35 is left after frame 30
    with av.open(str(path)) as container:
        decoded = sum(1 for _ in decoder._decoded(container, actions))
    assert decoded < 48 - 24


def test_frames_equal_decords_on_the_ntu_sample_and_mjpeg(tmp_path):
    """Where decord's get_batch is right (NTU's AVI, MJPEG, x264 MP4), ours are its frames bit for bit."""
    paths = [write_video(tmp_path / "mjpeg.avi", 30), encode(tmp_path / "x264.mp4", "libx264")]
    sample = ntu_sample()
    paths += [sample[0]] if sample else []
    for path in paths:
        reader = decord.VideoReader(str(path), num_threads=1)
        indices = plan_clips(len(reader), 10, _config()).rgb_unique
        with open_video(path) as vid:
            np.testing.assert_array_equal(vid.decode(indices), reader.get_batch(indices).asnumpy(), err_msg=path.name)


def test_a_missed_frame_falls_back_to_counting(tmp_path, monkeypatch):
    path = encode(tmp_path / "g.mp4", "libx264", **{"x264-params": X264})
    frames = every_frame(path)

    def lost_one(self, wanted, ranks):  # as if the decoder had dropped the second wanted frame
        yield 0, frames[wanted[0]]
        raise _Missed

    monkeypatch.setattr(CpuDecoder, "_by_timestamp", lost_one)
    with open_video(path) as vid:
        np.testing.assert_array_equal(vid.decode(np.array([5, 17, 33])), frames[[5, 17, 33]])


def test_presentation_order_from_timestamps():
    mp4 = PacketIndex([0, 3, 1, 2, 4], [True, False, False, False, True], [True] * 5, stamped=True)
    assert presentation_ranks(mp4).tolist() == [0, 3, 1, 2, 4]
    avi = PacketIndex([1, 2, 3, 4], [True, False, False, False], [True] * 4, stamped=False)
    assert presentation_ranks(avi) is None  # counters, whatever they look like
    intra = PacketIndex([1, 2, 3], [True] * 3, [True] * 3, stamped=False)
    assert presentation_ranks(intra).tolist() == [0, 1, 2]
    hidden = PacketIndex([-1, 0, 2, 1], [True, False, False, False], [False, True, True, True], stamped=True)
    assert presentation_ranks(hidden).tolist() == [-1, 0, 2, 1] and hidden.num_frames == 3
    for pts in ([0, None, 1], [0, 1, 1]):
        assert presentation_ranks(PacketIndex(pts, [True] * 3, [True] * 3, stamped=True)) is None


def test_a_leading_frame_of_an_open_gop_starts_at_the_keyframe_before():
    # decode order: I0 P3 B1 B2 | I6 B4 B5 P7: B4 and B5 are shown before I6 and refer to P3
    index = PacketIndex(
        [0, 3, 1, 2, 6, 4, 5, 7], [True, False, False, False, True, False, False, False], [True] * 8, True
    )
    actions = packet_actions(index, presentation_ranks(index), np.array([4]))
    assert actions.tolist() == [PASS, PASS, PASS, PASS, PASS, WANT, SKIP, SKIP]
    actions = packet_actions(index, presentation_ranks(index), np.array([7]))
    assert actions.tolist() == [SKIP, SKIP, SKIP, SKIP, PASS, PASS, PASS, WANT]


def test_indices_must_be_sorted_distinct_and_inside(tmp_path):
    with open_video(write_video(tmp_path / "v.avi", 10)) as vid:
        for bad in ([], [3, 1], [2, 2], [-1], [10]):
            with pytest.raises(ValueError):
                vid.decode(np.array(bad, dtype=np.int64))


def _config():
    from pcan_serve.model.config import PreprocessConfig

    return PreprocessConfig()
