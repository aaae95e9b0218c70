"""Video decoding with decord: open a path or uploaded bytes, decode only the frames asked for.

Uploaded bytes go to a private temporary file (mode 0600, unique name) that is unlinked as soon as decord has
opened it, so nothing else can read it and nothing is left behind. Not decord's in-memory reader: that one
segfaults on truncated AVI uploads (decord 0.6.0) and logs the upload's raw bytes when it cannot open them.
"""

import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import decord
import numpy as np

from ..errors import EmptyVideo, InvalidVideo, MissingInput, VideoTooLong
from .limits import DECODE_CHUNK_BYTES, DEFAULT_MAX_FRAMES

VideoSource = str | Path | bytes | bytearray | memoryview


@dataclass(frozen=True)
class VideoMeta:
    num_frames: int
    height: int
    width: int
    fps: float


class Video:
    """An opened video: ``num_frames`` at once, frames only on ``decode`` / ``iter_chunks``."""

    def __init__(self, source: VideoSource, max_frames: int = DEFAULT_MAX_FRAMES) -> None:
        self._reader = _open_reader(source)
        self.num_frames = len(self._reader)
        if self.num_frames > max_frames:
            raise VideoTooLong(f"video: {self.num_frames} frames, at most {max_frames} are accepted")
        self._shape: tuple[int, int] | None = None

    @property
    def fps(self) -> float:
        return float(self._reader.get_avg_fps())

    def decode(self, indices: np.ndarray) -> np.ndarray:
        """uint8 RGB frames [len(indices), H, W, 3]; ascending ``indices`` decode in one forward pass."""
        indices = np.asarray(indices, dtype=np.int64)
        if indices.size == 0:
            raise ValueError("no frames requested")
        if indices.min() < 0 or indices.max() >= self.num_frames:
            raise ValueError(f"frame indices outside [0, {self.num_frames})")
        try:
            frames = _as_numpy(self._reader.get_batch(indices))
        except Exception as exc:  # decord raises DECORDError/RuntimeError on corrupt streams
            raise InvalidVideo(f"video: frames could not be decoded ({_reason(exc)})") from None
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[1] < 1 or frames.shape[2] < 1:
            raise InvalidVideo(f"video: decoded frames have shape {list(frames.shape)}, expected [N, H, W, 3]")
        self._shape = (int(frames.shape[1]), int(frames.shape[2]))
        return frames

    def iter_chunks(self, indices: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(positions into ``indices``, frames) for sorted unique ``indices``, bounded in memory.

        The first chunk is a single frame, which tells the frame size; the rest fit ``DECODE_CHUNK_BYTES``.
        """
        start, size = 0, 1
        while start < len(indices):
            stop = min(start + size, len(indices))
            frames = self.decode(indices[start:stop])
            yield np.arange(start, stop), frames
            start = stop
            size = max(1, DECODE_CHUNK_BYTES // frames[0].nbytes)

    def meta(self) -> VideoMeta:
        if self._shape is None:
            raise RuntimeError("decode a frame first: decord reports the frame size only by decoding")
        return VideoMeta(self.num_frames, self._shape[0], self._shape[1], self.fps)

    def close(self) -> None:
        self._reader = None

    def __enter__(self) -> "Video":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_video(source: VideoSource, max_frames: int = DEFAULT_MAX_FRAMES) -> Video:
    """Open a video (path or bytes); typed errors for missing, empty, unreadable and too long videos."""
    return Video(source, max_frames=max_frames)


def decode_video(
    source: VideoSource, indices: np.ndarray, max_frames: int = DEFAULT_MAX_FRAMES
) -> tuple[np.ndarray, VideoMeta]:
    """Frames for ``indices`` (any order, repeats allowed), decoding each distinct frame once, plus meta."""
    unique, slots = np.unique(np.asarray(indices, dtype=np.int64), return_inverse=True)
    with open_video(source, max_frames=max_frames) as video:
        if unique.size and (unique[0] < 0 or unique[-1] >= video.num_frames):
            raise InvalidVideo(f"video: has {video.num_frames} frames, frames {unique.tolist()} were requested")
        return video.decode(unique)[slots], video.meta()


def _open_reader(source: VideoSource) -> decord.VideoReader:
    if isinstance(source, bytes | bytearray | memoryview):
        if len(source) == 0:
            raise EmptyVideo("video: the upload is empty (0 bytes)")
        fd, path = tempfile.mkstemp(prefix="pcan-upload-", suffix=".video")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(source)
            return _reader(path, f"the upload ({len(source)} bytes)")
        finally:
            os.unlink(path)  # decord holds its own descriptor
    if isinstance(source, str | Path):
        path = Path(source)
        if not path.is_file():
            raise MissingInput(f"video file not found: {path}")
        if path.stat().st_size == 0:
            raise EmptyVideo(f"video: {path.name} is empty (0 bytes)")
        return _reader(str(path), path.name)
    raise InvalidVideo(f"video: expected a path or bytes, got {type(source).__name__}")


def _reader(path: str, name: str) -> decord.VideoReader:
    try:
        # one decoding thread, as mmaction2 uses: more threads did not pay off on the 2-core reference box
        return decord.VideoReader(path, num_threads=1)
    except AssertionError:  # decord asserts a positive frame count
        raise EmptyVideo(f"video: {name} has no frames") from None
    except Exception as exc:
        message = _reason(exc).replace(path, name)  # never show a temporary path
        if "buffer source" in str(exc):  # ffmpeg saw a stream but no frame to learn its pixel format from
            raise EmptyVideo(f"video: {name} has no decodable frames") from None
        raise InvalidVideo(f"video: {name} cannot be decoded as a video ({message})") from None


def _as_numpy(batch: object) -> np.ndarray:
    """Zero-copy view of a decoded batch (decord's ``asnumpy`` copies every frame once more).

    Goes through DLPack into torch, decord's own torch bridge; the array keeps the buffer alive.
    """
    import torch.utils.dlpack

    if isinstance(batch, torch.Tensor):  # someone set decord's bridge to torch for the process
        return batch.numpy()
    return torch.utils.dlpack.from_dlpack(batch.to_dlpack()).numpy()


def _reason(exc: BaseException) -> str:
    """decord's message without its log prefix (``[time] /source/file.cc:61: ``), shortened."""
    lines = [re.sub(r"\[[\d:]+\] \S+:\d+: ", "", line).strip() for line in str(exc).splitlines()]
    lines = [line for line in lines if line and not line.startswith("Stack trace")]
    return (lines[0] if lines else type(exc).__name__)[:160]
