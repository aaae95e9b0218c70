"""Video decoding: open a path or uploaded bytes, decode only the frames asked for, as uint8 RGB.

The CPU decoder (PyAV, :mod:`.decode_cpu`) gives decord's frames bit for bit, hence mmaction2's; NVDEC
(:mod:`.decode_cuda`) is the optional GPU path, asked for per video (``device``, resolved once by the caller with
``decode_cuda.resolve_decode_device``). Bytes are read from memory: no temporary file, nothing to leak.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import EmptyVideo, InvalidVideo, MissingInput
from .decode_cpu import CpuDecoder
from .decode_cuda import CudaDecoder
from .limits import DEFAULT_MAX_FRAMES, DEFAULT_MAX_PIXELS

VideoSource = str | Path | bytes | bytearray | memoryview


@dataclass(frozen=True)
class VideoHeader:
    num_frames: int
    height: int
    width: int
    fps: float


class Video:
    """An opened video: ``num_frames`` at once (from its packets, no frame decoded), frames on ``frames``."""

    def __init__(
        self,
        source: VideoSource,
        max_frames: int = DEFAULT_MAX_FRAMES,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        device: str = "cpu",
    ) -> None:
        file, name = _file(source)
        # NVDEC reads files: uploaded bytes are decoded on the CPU whatever the device
        self.device = "cuda" if device == "cuda" and isinstance(file, str) else "cpu"  # the decoder that runs
        decoder = CudaDecoder if self.device == "cuda" else CpuDecoder
        self._decoder = decoder(file, name, max_frames, max_pixels)
        self.name, self.num_frames, self.fps = name, self._decoder.num_frames, self._decoder.fps
        self.header_pixels = self._decoder.header_pixels  # pixels per frame as declared: a cost estimate, not trusted
        self._shape: tuple[int, int] | None = None

    def frames(self, indices: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
        """(position in ``indices``, uint8 RGB frame [H, W, 3]) for sorted distinct ``indices``, one at a time,
        so that each frame can be used and dropped before the next is decoded."""
        indices = np.asarray(indices, dtype=np.int64)
        if indices.size == 0:
            raise ValueError("no frames requested")
        if np.any(np.diff(indices) <= 0):
            raise ValueError("frame indices must be sorted and distinct")
        if indices[0] < 0 or indices[-1] >= self.num_frames:
            raise ValueError(f"frame indices outside [0, {self.num_frames})")
        for position, frame in self._decoder.frames(indices):
            shape = (int(frame.shape[0]), int(frame.shape[1]))
            if self._shape is not None and shape != self._shape:  # a new sequence header mid-stream
                raise InvalidVideo(f"video: {self.name} changes its frame size from {self._shape} to {shape}")
            self._shape = shape
            yield position, frame

    def decode(self, indices: np.ndarray) -> np.ndarray:
        """uint8 RGB frames [len(indices), H, W, 3] for sorted distinct ``indices``."""
        out = None
        for position, frame in self.frames(indices):
            if out is None:
                out = np.empty((len(indices), *frame.shape), dtype=np.uint8)
            out[position] = frame
        return out

    def header(self) -> VideoHeader:
        if self._shape is None:
            raise RuntimeError("decode a frame first: the header's frame size is not trusted")
        return VideoHeader(self.num_frames, self._shape[0], self._shape[1], self.fps)

    def close(self) -> None:
        self._decoder = None

    def __enter__(self) -> "Video":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_video(
    source: VideoSource, max_frames: int = DEFAULT_MAX_FRAMES, max_pixels: int = DEFAULT_MAX_PIXELS, device: str = "cpu"
) -> Video:
    """Open a video (path or bytes) to decode on ``device`` (cpu | cuda, resolved); typed errors for missing,
    empty, unreadable, too long and too large."""
    return Video(source, max_frames=max_frames, max_pixels=max_pixels, device=device)


def decode_video(
    source: VideoSource, indices: np.ndarray, max_frames: int = DEFAULT_MAX_FRAMES
) -> tuple[np.ndarray, VideoHeader]:
    """Frames for ``indices`` (any order, repeats allowed), decoding each distinct frame once, plus meta."""
    unique, slots = np.unique(np.asarray(indices, dtype=np.int64), return_inverse=True)
    with open_video(source, max_frames=max_frames) as video:
        if unique.size and (unique[0] < 0 or unique[-1] >= video.num_frames):
            raise InvalidVideo(f"video: has {video.num_frames} frames, frames {unique.tolist()} were requested")
        return video.decode(unique)[slots], video.header()


def _file(source: VideoSource) -> tuple[str | bytes, str]:
    """(what the decoder reads, the name messages use: never a temporary path)."""
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        if not data:
            raise EmptyVideo("video: the upload is empty (0 bytes)")
        return data, f"the upload ({len(data)} bytes)"
    if isinstance(source, str | Path):
        path = Path(source)
        if not path.is_file():
            raise MissingInput(f"video file not found: {path}")
        if path.stat().st_size == 0:
            raise EmptyVideo(f"video: {path.name} is empty (0 bytes)")
        return str(path.resolve()), path.name
    raise InvalidVideo(f"video: expected a path or bytes, got {type(source).__name__}")
