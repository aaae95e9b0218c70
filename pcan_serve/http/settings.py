"""The HTTP service's settings: ``PCAN_*`` environment variables, read and validated once (pydantic-settings).

`pcan serve` writes these variables and starts ``bentoml serve``; a Bento or a container is configured by setting
the same variables (``docker run -e PCAN_MAX_UPLOAD_MB=50 ...``). Every limit has a safe default; a wrong value
stops the server at start with a message naming the variable (:func:`load_settings`).
"""

import os
from typing import Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator
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
# Settings that would otherwise be ignored silently: renamed, or gone with what they tuned.
RENAMED = {
    "PCAN_PREPROCESS_THREADS": "PCAN_PREPROCESS_THREADS is now PCAN_DECODE_THREADS",
    "PCAN_MAX_LATENCY_MS": "PCAN_MAX_LATENCY_MS is gone with BentoML's adaptive batching: the model runs what is "
    "queued when it is free, and PCAN_LATENCY_BUDGET_S bounds a request's time",
}
# Clips per forward on the CPU, and the chunk a request's clips go to the model in. Measured with `pcan bench --stages
# model --batch-sizes 1,2,4 --backends torch-eager --device cpu --repeats 5` (ntu60, 2 torch threads, this 2-core
# machine at load ~4): 4.04 s a forward at batch 1, 7.24 s at 2 (3.62 s a clip: -10 %), 13.9 s at 4 (3.47 s a
# clip: -14 %). 2 keeps most of the gain while the batch a one-clip request may wait behind stays one 2-clip forward;
# the model batches greedily (never waits to fill a batch), so at low load its batches are of one clip anyway.
CPU_BATCH = 2
# On a GPU, where a forward of 8 clips (fp16, H200) took 23 ms and used about 5 % of the fp16 peak: larger
# batches raise the throughput; 32 is a guess until `pcan bench --device cuda --batch-sizes 1,8,32,64` has measured it.
GPU_BATCH = 32
DEFAULT_BUDGET_S = 30  # below PCAN_TIMEOUT_S: the margin absorbs a wrong estimate before the deadline's 504
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
    batch_size: AsciiInt | None = Field(None, ge=1, description="Clips per forward [default: 2 on a CPU, 32 on a GPU].")
    max_batch: AsciiInt | None = Field(None, ge=2, description="Requests per model batch [default: as batch_size].")
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
    latency_budget_s: AsciiInt | None = Field(
        None, ge=1, description="A request is admitted when it can finish within it [default: 30, at most timeout_s]."
    )
    max_queue: AsciiInt = Field(64, ge=1, description="POST /predict requests at once per API process.")

    @model_validator(mode="after")
    def _fill_defaults(self) -> "ServiceSettings":
        if self.decode_threads is None:
            object.__setattr__(self, "decode_threads", default_decode_threads(self.api_workers))
        if self.latency_budget_s is None:
            object.__setattr__(self, "latency_budget_s", min(DEFAULT_BUDGET_S, self.timeout_s))
        return self

    @field_validator("latency_budget_s")
    @classmethod
    def _within_timeout(cls, value: int | None, info: ValidationInfo) -> int | None:
        timeout = info.data.get("timeout_s")
        if value is not None and timeout is not None and value > timeout:
            raise ValueError(f"must not exceed PCAN_TIMEOUT_S ({timeout})")
        return value

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
    for old, why in RENAMED.items():
        if os.environ.get(old, "").strip():
            raise SettingsError(why)
    try:
        return ServiceSettings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "PCAN_" + str(first["loc"][0]).upper() if first["loc"] else "PCAN_*"
        raise SettingsError(f"{name}: {first['msg']} (got {first['input']!r})") from None
