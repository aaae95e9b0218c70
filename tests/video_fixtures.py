"""Encoded test videos made with PyAV: B-frames, short or open GOPs, and hostile headers (no tests here)."""

import struct
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np


def moving_frames(num_frames: int, size: tuple[int, int], seed: int = 0) -> list[np.ndarray]:
    """RGB frames with texture and motion, so that every frame differs and a wrong frame cannot pass."""
    height, width = size
    rng = np.random.default_rng(seed)
    texture = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    yy, xx = np.mgrid[0:height, 0:width]
    frames = []
    for t in range(num_frames):
        ramp = np.dstack([((xx * 3 + yy * 2 + t * 7) % 256).astype(np.uint8)] * 3)
        frames.append(cv2.addWeighted(np.roll(texture, t * 3, axis=1), 0.6, ramp, 0.4, 0))
    return frames


def encode(
    path: Path,
    codec: str,
    num_frames: int = 48,
    size: tuple[int, int] = (96, 128),
    pts: list[int] | None = None,
    pix_fmt: str = "yuv420p",
    **options: str,
) -> Path:
    """``num_frames`` frames encoded with ``codec`` (libx264, mpeg4, libx265 ...) and its ``options``;
    ``pts`` (in 1/30 s) makes the frame rate variable."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=30)
        stream.height, stream.width = size
        stream.pix_fmt = pix_fmt
        stream.codec_context.options = dict(options)
        for t, rgb in enumerate(moving_frames(num_frames, size)):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format=pix_fmt)
            frame.pts, frame.time_base = (pts[t] if pts else t), Fraction(1, 30)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def mux_jpeg(path: Path, size: tuple[int, int], count: int = 3, declared: tuple[int, int] | None = None) -> Path:
    """An MJPEG .avi of ``count`` black frames of ``size`` (height, width) whose header declares ``declared``.

    A black JPEG is small at any size and ``np.zeros`` pages are never touched, so a 16000x16000 one costs
    a few MiB to make; decoding one frame of it would take 384 MiB (YUV) and converting it 768 MiB (RGB).
    """
    ok, jpeg = cv2.imencode(".jpg", np.zeros(size, dtype=np.uint8))
    assert ok
    with av.open(str(path), "w", format="avi") as out:
        stream = out.add_stream("mjpeg", rate=30)
        stream.height, stream.width = declared or size
        stream.pix_fmt = "yuvj420p"
        for t in range(count):
            packet = av.Packet(jpeg.tobytes())
            packet.stream, packet.pts, packet.dts = stream, t, t
            out.mux(packet)
    return path


def declare_frames(avi: Path, count: int) -> Path:
    """Rewrite an AVI header's frame counts (main header and video stream header) to ``count``."""
    data = bytearray(avi.read_bytes())
    for tag, offset in ((b"avih", 8 + 16), (b"strh", 8 + 32)):  # dwTotalFrames, dwLength
        struct.pack_into("<I", data, data.index(tag) + offset, count)
    avi.write_bytes(bytes(data))
    return avi
