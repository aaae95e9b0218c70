"""CPU decoding with PyAV (FFmpeg, bundled in its wheel): a packet index first, then only the packets the
sampled frames need (``decode_plan``), converted to RGB exactly as decord converts them.

Limits hold before memory is spent. The container is opened with no decoder allowed while FFmpeg probes it
(``codec_whitelist``), so opening decodes nothing, and the header's frame size and frame count are checked
first. The decoder then refuses frames over the pixel cap itself (``max_pixels``: it never allocates one),
and every decoded frame is checked and counted, since headers can lie. One decoding thread per video: videos
are decoded side by side (``pcan_serve.workers``), as mmaction2 decodes with one decord thread.
"""

import io
from collections.abc import Iterator

import av
import numpy as np

from ..errors import EmptyVideo, FrameTooLarge, InvalidVideo, VideoTooLong
from .decode_plan import PRESENTATION_STAMPED, SKIP, WANT, PacketIndex, packet_actions, presentation_ranks

_OPEN = {
    "codec_whitelist": "none",  # avformat_find_stream_info may open no decoder: opening reads headers only
    "format_whitelist": "avi,mov,matroska,mpegts,mpeg,flv,asf,ogg,gif,yuv4mpegpipe,h264,hevc,m4v,mjpeg",
    "protocol_whitelist": "file",  # with the formats above: no playlist that makes FFmpeg read other files
}


class _Missed(Exception):
    """A wanted frame did not come out of the skipping decode: its timestamps did not mean what they seemed."""


class CpuDecoder:
    """A video file path, or its bytes; ``frames`` decodes the wanted frames in one forward pass."""

    def __init__(self, file: str | bytes, name: str, max_frames: int, max_pixels: int) -> None:
        self._file, self.name, self.max_frames, self.max_pixels = file, name, max_frames, max_pixels
        with self._open() as container:
            stream = container.streams.best("video")
            width, height = stream.codec_context.width, stream.codec_context.height
            check_pixels(name, width, height, max_pixels)
            self.header_pixels = width * height
            if stream.frames > max_frames:
                raise VideoTooLong(f"video: {stream.frames} frames, at most {max_frames} are accepted")
            self.fps = float(stream.average_rate or stream.guessed_rate or 0)
            self._index = self._read_index(container, stream)
        if self._index.num_frames == 0:
            raise EmptyVideo(f"video: {name} has no decodable frames")
        self.num_frames = self._index.num_frames

    def frames(self, wanted: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
        """(position in ``wanted``, uint8 RGB frame [H, W, 3]) for sorted distinct frame indices, in order."""
        ranks = presentation_ranks(self._index)
        done: set[int] = set()
        if ranks is not None:
            try:
                for position, frame in self._by_timestamp(wanted, ranks):
                    done.add(position)
                    yield position, frame
                return
            except _Missed:  # decode them all, from the start, counting
                pass
        for position, frame in self._by_count(wanted):
            if position not in done:
                yield position, frame

    def _by_timestamp(self, wanted: np.ndarray, ranks: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
        actions = packet_actions(self._index, ranks, wanted)
        wanted_packets = np.flatnonzero(actions == WANT)
        slots = {self._index.pts[j]: int(np.searchsorted(wanted, ranks[j])) for j in wanted_packets.tolist()}
        with self._open() as container:
            for frame in self._decoded(container, actions):
                position = slots.pop(frame.pts, None)
                if position is not None:
                    yield position, frame.to_ndarray(format="rgb24")
                if not slots:
                    return
        raise _Missed

    def _by_count(self, wanted: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
        targets, position = wanted.tolist(), 0
        with self._open() as container:
            for count, frame in enumerate(self._decoded(container, None)):
                if count == targets[position]:
                    yield position, frame.to_ndarray(format="rgb24")
                    position += 1
                    if position == len(targets):
                        return
        raise InvalidVideo(f"video: {self.name} ended before frame {targets[position]} could be decoded")

    def _decoded(self, container: av.container.InputContainer, actions: np.ndarray | None) -> Iterator[av.VideoFrame]:
        """Decoded frames in presentation order, packets sent as ``actions`` say (None: all, none dropped).

        After skipped packets the decoder is drained and reset, and goes on from the keyframe that follows.
        """
        stream = container.streams.best("video")
        codec = stream.codec_context
        codec.thread_count = 1
        codec.options = {"max_pixels": str(min(self.max_pixels, 2**31 - 1))}  # FFmpeg's range ends at INT_MAX
        last = len(self._index.pts) - 1 if actions is None else int(np.flatnonzero(actions).max())
        declared = codec.width * codec.height
        decoded, sent, j = 0, -1, -1
        try:
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue
                j += 1
                action = WANT if actions is None else actions[j]
                if action == SKIP:
                    continue
                batches = []
                if sent >= 0 and j > sent + 1:
                    batches.append(codec.decode(None))
                    codec.flush_buffers()
                codec.skip_frame = "DEFAULT" if action == WANT else "NONREF"
                batches.append(codec.decode(packet))
                sent = j
                if j == last:
                    batches.append(codec.decode(None))
                for frame in (f for batch in batches for f in batch):
                    decoded += 1
                    if decoded > self.max_frames:
                        raise too_many(self.max_frames)
                    check_pixels(self.name, frame.width, frame.height, self.max_pixels)
                    yield frame
                if j == last:
                    return
        except av.FFmpegError as exc:
            if declared and codec.width * codec.height == 0:  # FFmpeg zeroes a size it refuses (ff_set_dimensions)
                raise FrameTooLarge(
                    f"video: {self.name} has frames larger than its header says, over the cap of "
                    f"{self.max_pixels} pixels per frame"
                ) from None
            raise InvalidVideo(f"video: {self.name}: frames could not be decoded ({reason(exc)})") from None

    def _open(self) -> av.container.InputContainer:
        source = io.BytesIO(self._file) if isinstance(self._file, bytes) else self._file
        try:
            container = av.open(source, options=_OPEN, metadata_errors="replace")  # odd tags are no reason to fail
        except av.FFmpegError as exc:
            raise InvalidVideo(f"video: {self.name} cannot be decoded as a video ({reason(exc)})") from None
        if not container.streams.video or container.streams.best("video").codec_context is None:
            container.close()
            raise InvalidVideo(f"video: {self.name} has no video stream that can be decoded")
        return container

    def _read_index(self, container: av.container.InputContainer, stream: av.VideoStream) -> PacketIndex:
        """Every packet's timestamp and flags, without decoding; more than ``max_frames`` stops the read."""
        pts: list[int | None] = []
        key: list[bool] = []
        shown: list[bool] = []
        try:
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue
                if len(pts) == self.max_frames:
                    raise too_many(self.max_frames)
                pts.append(packet.pts)
                key.append(packet.is_keyframe)
                shown.append(not packet.is_discard)
        except av.FFmpegError as exc:
            raise InvalidVideo(f"video: {self.name} cannot be read ({reason(exc)})") from None
        stamped = not PRESENTATION_STAMPED.isdisjoint(container.format.name.split(","))
        return PacketIndex(pts, key, shown, stamped)


def too_many(max_frames: int) -> VideoTooLong:
    return VideoTooLong(f"video: more than {max_frames} frames, at most {max_frames} are accepted")


def check_pixels(name: str, width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise FrameTooLarge(
            f"video: {name} has {width}x{height} frames ({width * height} pixels), "
            f"at most {max_pixels} pixels per frame are accepted"
        )


def reason(exc: BaseException) -> str:
    """FFmpeg's message without the file name PyAV appends (a temporary path, for an upload)."""
    text = getattr(exc, "strerror", None) or type(exc).__name__
    return str(text).splitlines()[0][:160]
