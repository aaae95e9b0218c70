"""GPU decoding with PyNvVideoCodec (NVDEC, needs only the NVIDIA driver): ``--decode-device cuda``.

NVDEC converts to RGB with its own kernels, not FFmpeg's swscale, so its frames are not mmaction2's to the
last bit: the CPU decoder stays the default, and ``auto`` picks NVDEC only where it can run. NVDEC sizes its
surfaces from the stream on the GPU, within the hardware's own limits (8192x8192); the host only ever holds
``BATCH`` frames, each checked against the pixel cap.
"""

from collections.abc import Iterator

import numpy as np

from ..errors import BackendUnavailable, EmptyVideo, InvalidRequest, InvalidVideo, VideoTooLong
from .decode_cpu import check_pixels, reason

DECODE_DEVICES = ("cpu", "cuda", "auto")
BATCH = 8
"""Frames per NVDEC call (one clip's worth)."""


def cuda_decode_unavailable() -> str | None:
    """None when NVDEC decoding can run here, else why not."""
    try:
        import PyNvVideoCodec  # noqa: F401
    except Exception as exc:  # ImportError, or a missing driver library at import
        return f"PyNvVideoCodec cannot be imported ({type(exc).__name__}: {exc}); pip install 'pcan[gpu-decode]'"
    import torch

    if not torch.cuda.is_available():
        return "torch sees no CUDA GPU"
    return None


def resolve_decode_device(requested: str) -> str:
    """``cpu`` | ``cuda`` | ``auto`` -> the device that will decode: ``cuda`` where NVDEC can run, else ``cpu``;
    asking for ``cuda`` where it cannot is an error."""
    if requested not in DECODE_DEVICES:
        raise InvalidRequest(f"decode device: expected one of {', '.join(DECODE_DEVICES)}, got {requested!r}")
    if requested == "cpu":
        return "cpu"
    why = cuda_decode_unavailable()
    if why is None:
        return "cuda"
    if requested == "cuda":
        raise BackendUnavailable(f"decode device cuda: {why}")
    return "cpu"


class CudaDecoder:
    """A video file on NVDEC; ``frames`` decodes the wanted ones, ``BATCH`` at a time."""

    def __init__(self, path: str, name: str, max_frames: int, max_pixels: int) -> None:
        import PyNvVideoCodec as nvc

        self.name, self.max_pixels = name, max_pixels
        try:
            self._decoder = nvc.SimpleDecoder(
                path, gpu_id=0, use_device_memory=True, output_color_type=nvc.OutputColorType.RGB
            )
            meta = self._decoder.get_stream_metadata()
            self.num_frames = len(self._decoder)
        except Exception as exc:  # PyNvVideoCodec raises RuntimeError/ValueError on what it cannot open
            raise InvalidVideo(f"video: {name} cannot be decoded as a video ({reason(exc)})") from None
        check_pixels(name, int(meta.width), int(meta.height), max_pixels)
        self.header_pixels = int(meta.width) * int(meta.height)
        if self.num_frames > max_frames:
            raise VideoTooLong(f"video: {self.num_frames} frames, at most {max_frames} are accepted")
        if self.num_frames == 0:
            raise EmptyVideo(f"video: {name} has no decodable frames")
        self.fps = float(meta.average_fps or 0)

    def frames(self, wanted: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
        """(position in ``wanted``, uint8 RGB frame [H, W, 3] in host memory) for sorted distinct indices."""
        import torch

        for start in range(0, len(wanted), BATCH):
            batch = wanted[start : start + BATCH].tolist()
            try:
                decoded = self._decoder.get_batch_frames_by_index(batch)
            except Exception as exc:
                raise InvalidVideo(f"video: {self.name}: frames could not be decoded ({reason(exc)})") from None
            if len(decoded) != len(batch):
                raise InvalidVideo(f"video: {self.name}: {len(decoded)} of {len(batch)} frames could be decoded")
            for offset, frame in enumerate(decoded):
                rgb = torch.from_dlpack(frame)
                if rgb.ndim != 3 or rgb.shape[-1] != 3:
                    raise InvalidVideo(f"video: {self.name}: decoded frames have shape {list(rgb.shape)}")
                check_pixels(self.name, int(rgb.shape[1]), int(rgb.shape[0]), self.max_pixels)
                yield start + offset, rgb.cpu().numpy()
