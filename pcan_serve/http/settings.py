"""The HTTP service's settings, read once from ``PCAN_*`` environment variables.

`pcan serve` writes these variables and starts ``bentoml serve``; a Bento or a container is configured by
setting the same variables (``docker run -e PCAN_MAX_UPLOAD_MB=50 ...``). Every limit has a safe default.
"""

import os
from dataclasses import dataclass

from ..model_io import BACKENDS
from ..preprocess.limits import DEFAULT_MAX_FRAMES, DEFAULT_MAX_PERSONS, DEFAULT_MAX_PIXELS, DEFAULT_MAX_SKELETON_BYTES
from ..workers import DECODE_THREADS_ENV, default_api_workers, default_decode_threads

UNTRAINED = "untrained"  # PCAN_MODEL value: untrained weights of PCAN_PRESET, whatever the store holds
RENAMED = {"PCAN_PREPROCESS_THREADS": DECODE_THREADS_ENV}  # a setting that would be ignored silently otherwise
CPU_BATCH = 8  # PCAN_BATCH_SIZE and PCAN_MAX_BATCH on the CPU: a forward there takes seconds per clip
# ... and on a GPU, where a forward of 8 clips (fp16, H200) took 23 ms and used about 5 % of the fp16 peak: larger
# batches raise the throughput; 32 is a guess until `pcan bench --device cuda --batch-sizes 1,8,32,64` has measured it.
GPU_BATCH = 32


def _int(name: str, default: int, minimum: int = 1) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def _default_batch() -> int:
    """Clips per forward and requests per adaptive batch, by the device PCAN_DEVICE resolves to."""
    from ..runtime import resolve_device  # torch: already imported by the model description's package

    on_gpu = resolve_device(_str("PCAN_DEVICE", "auto") or "auto").startswith("cuda")
    return GPU_BATCH if on_gpu else CPU_BATCH


def _str(name: str, default: str | None = None) -> str | None:
    raw = os.environ.get(name, "").strip()
    return raw or default


@dataclass(frozen=True)
class ServiceSettings:
    """What the service serves and the caps it puts on every request."""

    model_path: str | None  # PCAN_MODEL: a .pth / .onnx / .engine file, or `untrained`; wins over the store
    model_tag: str | None  # PCAN_MODEL_TAG: a BentoML model store tag (default: the newest `pcan` model)
    backend: str | None  # PCAN_BACKEND: torch | onnxruntime | tensorrt (default: from the file type)
    preset: str | None  # PCAN_PRESET: preset of an untrained model or of a checkpoint without config
    device: str  # PCAN_DEVICE: auto | cpu | cuda
    batch_size: int  # PCAN_BATCH_SIZE: clips per forward pass
    max_batch_items: int  # PCAN_MAX_BATCH: requests merged into one adaptive batch
    max_latency_ms: int  # PCAN_MAX_LATENCY_MS: queueing + inference budget before a 503
    max_upload_bytes: int  # PCAN_MAX_UPLOAD_MB: whole request body
    max_frames: int  # PCAN_MAX_FRAMES: video frames (and skeleton frames)
    max_pixels: int  # PCAN_MAX_PIXELS: pixels per video frame, declared and decoded
    max_persons: int  # PCAN_MAX_PERSONS: persons in a skeleton
    max_skeleton_bytes: int  # PCAN_MAX_SKELETON_MB: skeleton file size, checked before it is parsed
    api_workers: int  # PCAN_API_WORKERS: processes that parse and preprocess requests (pcan_serve.workers)
    decode_threads: int  # PCAN_DECODE_THREADS: videos decoded and preprocessed at once per API worker
    torch_threads: int | None  # PCAN_TORCH_THREADS: intra-op threads of the torch backend
    timeout_s: int  # PCAN_TIMEOUT_S: every request ends within it (504 when it cannot be served in time)

    @classmethod
    def from_env(cls) -> "ServiceSettings":
        backend = _str("PCAN_BACKEND")
        if backend is not None and backend not in BACKENDS:
            raise ValueError(f"PCAN_BACKEND must be one of {', '.join(BACKENDS)}, got {backend!r}")
        threads = _int("PCAN_TORCH_THREADS", 0, minimum=0)
        for old, new in RENAMED.items():
            if os.environ.get(old, "").strip():
                raise ValueError(f"{old} is now {new}")
        api_workers = _int("PCAN_API_WORKERS", default_api_workers())
        return cls(
            model_path=_str("PCAN_MODEL"),
            model_tag=_str("PCAN_MODEL_TAG"),
            backend=backend,
            preset=_str("PCAN_PRESET"),
            device=_str("PCAN_DEVICE", "auto") or "auto",
            batch_size=_int("PCAN_BATCH_SIZE", _default_batch()),
            max_batch_items=_int("PCAN_MAX_BATCH", _default_batch(), minimum=2),
            max_latency_ms=_int("PCAN_MAX_LATENCY_MS", 30_000),
            max_upload_bytes=_int("PCAN_MAX_UPLOAD_MB", 200) * 2**20,
            max_frames=_int("PCAN_MAX_FRAMES", DEFAULT_MAX_FRAMES),
            max_pixels=_int("PCAN_MAX_PIXELS", DEFAULT_MAX_PIXELS),
            max_persons=_int("PCAN_MAX_PERSONS", DEFAULT_MAX_PERSONS),
            max_skeleton_bytes=_int("PCAN_MAX_SKELETON_MB", DEFAULT_MAX_SKELETON_BYTES // 2**20) * 2**20,
            api_workers=api_workers,
            decode_threads=_int(DECODE_THREADS_ENV, default_decode_threads(api_workers)),
            torch_threads=threads or None,
            timeout_s=_int("PCAN_TIMEOUT_S", 120),
        )
