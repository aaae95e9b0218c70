"""The HTTP service's settings: ``PCAN_*`` environment variables, read and validated once (pydantic-settings).

`pcan serve` writes these variables and starts ``bentoml serve``; a Bento or a container is configured by setting
the same variables (``docker run -e PCAN_MAX_UPLOAD_MB=50 ...``). Every limit has a safe default; a wrong value
stops the server at start with a message naming the variable (:func:`load_settings`).
"""

import os
from typing import Literal

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ..errors import PCANError
from ..preprocess.limits import (
    DEFAULT_MAX_CLIPS,
    DEFAULT_MAX_FRAMES,
    DEFAULT_MAX_PERSONS,
    DEFAULT_MAX_PIXELS,
    DEFAULT_MAX_SKELETON_BYTES,
    Limits,
)
from ..runtime.request import AsciiInt
from ..workers import default_api_workers, default_decode_threads

UNTRAINED = "untrained"  # PCAN_MODEL value: untrained weights of PCAN_PRESET, whatever the store holds
RENAMED = {"PCAN_PREPROCESS_THREADS": "PCAN_DECODE_THREADS"}  # would be ignored silently otherwise
CPU_BATCH = 8  # clips per forward and requests per adaptive batch on the CPU: a forward there takes seconds a clip
# ... and on a GPU, where a forward of 8 clips (fp16, H200) took 23 ms and used about 5 % of the fp16 peak: larger
# batches raise the throughput; 32 is a guess until `pcan bench --device cuda --batch-sizes 1,8,32,64` has measured it.
GPU_BATCH = 32
MiB = 2**20


class SettingsError(PCANError):
    """A ``PCAN_*`` variable has a value the service cannot use."""


class ServiceSettings(BaseSettings):
    """What the service serves and the caps it puts on every request (field ``x`` is ``PCAN_X``)."""

    model_config = SettingsConfigDict(
        env_prefix="PCAN_", frozen=True, extra="ignore", env_ignore_empty=True, protected_namespaces=()
    )

    model: str | None = Field(None, description="A .pth/.onnx/.engine file, or `untrained`; wins over the store.")
    model_tag: str | None = Field(None, description="A BentoML model store tag [default: the newest `pcan` model].")
    backend: Literal["torch", "onnxruntime", "tensorrt"] | None = Field(None, description="Runtime the model needs.")
    preset: str | None = Field(None, description="Preset of untrained weights or of a checkpoint without config.")
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$", description="auto | cpu | cuda | cuda:N.")
    batch_size: AsciiInt | None = Field(None, ge=1, description="Clips per forward [default: 8 on a CPU, 32 on a GPU].")
    max_batch: AsciiInt | None = Field(None, ge=2, description="Requests per adaptive batch [default: as batch_size].")
    max_latency_ms: AsciiInt = Field(30_000, ge=1, description="Adaptive batching's wait and run budget.")
    max_upload_mb: AsciiInt = Field(200, ge=1, description="Request body (MiB).")
    max_skeleton_mb: AsciiInt = Field(DEFAULT_MAX_SKELETON_BYTES // MiB, ge=1, description="Skeleton file (MiB).")
    max_frames: AsciiInt = Field(DEFAULT_MAX_FRAMES, ge=1, description="Video (and skeleton) frames.")
    max_pixels: AsciiInt = Field(DEFAULT_MAX_PIXELS, ge=1, description="Pixels per video frame.")
    max_persons: AsciiInt = Field(DEFAULT_MAX_PERSONS, ge=1, description="Persons in a skeleton.")
    max_clips: AsciiInt = Field(DEFAULT_MAX_CLIPS, ge=1, description="Clips per request (num_clips).")
    api_workers: AsciiInt = Field(default_factory=default_api_workers, ge=1, description="API processes.")
    decode_threads: AsciiInt | None = Field(None, ge=1, description="Videos decoded at once per API process.")
    torch_threads: AsciiInt | None = Field(None, ge=1, description="Intra-op threads of the torch backend.")
    pose_model: str | None = Field(None, description="RTMPose-style ONNX pose model [default: BlazePose].")
    timeout_s: AsciiInt = Field(120, ge=1, description="Every request ends within it (upload to answer).")

    @model_validator(mode="after")
    def _fill_defaults(self) -> "ServiceSettings":
        if self.decode_threads is None:
            object.__setattr__(self, "decode_threads", default_decode_threads(self.api_workers))
        return self

    @property
    def on_gpu(self) -> bool:
        """The device is a GPU: named so (`cuda`, `cuda:N`), or `auto` on a machine where torch sees one."""
        if self.device == "auto":
            import torch

            return torch.cuda.is_available()
        return self.device.startswith("cuda")

    @property
    def clips_per_forward(self) -> int:
        return self.batch_size or (GPU_BATCH if self.on_gpu else CPU_BATCH)

    @property
    def requests_per_batch(self) -> int:
        return self.max_batch or max(2, GPU_BATCH if self.on_gpu else CPU_BATCH)

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * MiB

    @property
    def limits(self) -> Limits:
        return Limits(
            max_frames=self.max_frames,
            max_pixels=self.max_pixels,
            max_persons=self.max_persons,
            max_skeleton_bytes=self.max_skeleton_mb * MiB,
            max_clips=self.max_clips,
        )


def load_settings() -> ServiceSettings:
    """The settings from the environment; a bad value is a :class:`SettingsError` naming its variable."""
    for old, new in RENAMED.items():
        if os.environ.get(old, "").strip():
            raise SettingsError(f"{old} is now {new}")
    try:
        return ServiceSettings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "PCAN_" + str(first["loc"][0]).upper() if first["loc"] else "PCAN_*"
        raise SettingsError(f"{name}: {first['msg']} (got {first['input']!r})") from None
