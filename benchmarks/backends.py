"""The runtimes a model forward is timed on, each opened from the one benchmark checkpoint or its exports.

A name is ``runtime[-tf32|-fp16|-int8]``: torch-eager, torch-eager-cl, torch-compile, onnxruntime, tensorrt;
``--device`` says where. What serving runs (torch eager in fp32 on the CPU and with the fp16 backbone on CUDA,
ONNX Runtime on the fp32, fp16 (CUDA) or int8 (CPU) export, TensorRT) is opened through ``Predictor.from_path``,
so its timing is serving's. torch.compile (on CUDA with CUDA graphs), channels-last 3D on CUDA (torch-eager-cl)
and the CUDA fp32 (TF32 off) / TF32 variants, which serving does not pick itself, run in :class:`TorchRunner` with
the same precision policy: the candidates for serving's CUDA configuration, timed side by side where a GPU is.
Whatever cannot run here raises :class:`Unavailable` with the reason. The int8 file is calibrated on the
benchmark's own inputs (the sample clip): its speed does not depend on the ranges, and its agreement with fp32 is
the export's test (tests/test_export_int8.py), not this one clip.
"""

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from export.verify import Case

from .artifacts import BenchModel

RUNTIMES = ("torch-eager", "torch-eager-cl", "torch-compile", "onnxruntime", "tensorrt")
PRECISIONS = ("fp32", "tf32", "fp16", "int8")
DEFAULTS = {
    "cpu": ("torch-eager", "torch-compile", "onnxruntime", "onnxruntime-int8"),
    "cuda": (
        "torch-eager",
        "torch-eager-tf32",
        "torch-eager-fp16",
        "torch-compile-fp16",
        "onnxruntime",
        "onnxruntime-fp16",
        "tensorrt-fp16",
    ),
}
NAMES = tuple(r + ("" if p == "fp32" else f"-{p}") for r in RUNTIMES for p in PRECISIONS)


class Unavailable(RuntimeError):
    """This backend cannot run on this machine; the message says why."""


@dataclass(frozen=True)
class Spec:
    runtime: str
    device: str
    precision: str = "fp32"

    @property
    def name(self) -> str:
        return self.runtime + ("" if self.precision == "fp32" else f"-{self.precision}")

    @property
    def cuda(self) -> bool:
        return self.device.startswith("cuda")

    @property
    def serving(self) -> bool:
        """Whether serving runs exactly this (so it opens through ``Predictor.from_path``)."""
        if self.runtime == "torch-eager":
            return self.precision == ("fp16" if self.cuda else "fp32")
        return self.runtime in ("onnxruntime", "tensorrt")


def parse(name: str, device: str) -> Spec:
    suffixes = tuple(f"-{p}" for p in PRECISIONS[1:])
    runtime, precision = name.rsplit("-", 1) if name.endswith(suffixes) else (name, "fp32")
    if runtime not in RUNTIMES:
        raise ValueError(
            f"unknown backend {name!r}; known: {', '.join(RUNTIMES)} (optionally with {', '.join(suffixes)})"
        )
    return Spec(runtime, device, precision)


def default_specs(device: str) -> list[Spec]:
    return [parse(n, device) for n in DEFAULTS["cuda" if device.startswith("cuda") else "cpu"]]


def _check(spec: Spec) -> None:
    if spec.precision == "int8":
        if spec.runtime != "onnxruntime" or spec.cuda:
            raise Unavailable("int8 is the ONNX Runtime CPU model (pcan export onnx --quantize int8): onnxruntime-int8")
        return
    if spec.precision != "fp32" and not spec.cuda:
        raise Unavailable(f"{spec.precision} is only benchmarked on CUDA")
    if spec.runtime == "torch-eager-cl" and not spec.cuda:
        raise Unavailable("torch-eager on the CPU is channels-last 3D already; torch-eager-cl is its CUDA variant")
    if spec.runtime == "onnxruntime" and spec.precision == "tf32":
        raise Unavailable("ONNX Runtime's CUDA provider is timed in fp32 (onnxruntime) or fp16 (onnxruntime-fp16)")
    if spec.runtime == "tensorrt" and (spec.precision == "tf32" or not spec.cuda):
        raise Unavailable("TensorRT engines run on CUDA, built in fp32 (TF32 off) or fp16")
    if spec.cuda:
        import torch

        if not torch.cuda.is_available():
            raise Unavailable("torch sees no CUDA GPU here")


def open_predictor(spec: Spec, bm: BenchModel, batch_size: int, calibration: Sequence[Case] = ()) -> Any:
    """``Predictor.from_path`` for what serving runs; :class:`Unavailable` for anything else. ``calibration``:
    the clips an int8 export is calibrated on."""
    from pcan_serve.errors import BackendUnavailable
    from pcan_serve.runtime import Predictor

    _check(spec)
    if not spec.serving:
        raise Unavailable(f"{spec.name} is not a serving backend (serving picks its precision per device)")
    try:
        if spec.runtime == "torch-eager":
            path = bm.checkpoint
        elif spec.runtime == "onnxruntime":
            path = bm.onnx(spec.precision, calibration)
        else:
            path = bm.engine(spec.precision == "fp16", batch_size)
        predictor = Predictor.from_path(path, preset=bm.preset, device=spec.device, batch_size=batch_size)
    except (ImportError, BackendUnavailable) as exc:
        raise Unavailable(str(exc)) from None
    if spec.cuda and not predictor.backend.device.startswith("cuda"):
        raise Unavailable(f"{spec.runtime} fell back to {predictor.backend.device} (no usable CUDA provider)")
    return predictor


def open_spec(spec: Spec, bm: BenchModel, max_batch: int, calibration: Sequence[Case] = ()) -> Any:
    """An object with ``run(imgs, heatmaps) -> {branch: probs}``, or :class:`Unavailable`."""
    if spec.serving:
        return open_predictor(spec, bm, max_batch, calibration).backend
    _check(spec)
    if spec.runtime == "torch-compile" and not spec.cuda and not any(map(shutil.which, ("g++", "c++", "clang++"))):
        raise Unavailable("torch.compile (inductor) needs a C++ compiler on CPU, and none is on PATH")
    return TorchRunner(spec, bm)


class TorchRunner:
    """PyTorch with host arrays in and probabilities out, like ``Backend.run``, for the variants serving does
    not choose itself. Same policy as serving: channels-last 3D on the CPU (and with torch-eager-cl on CUDA); cuDNN
    autotuning on CUDA; fp16 = backbone under autocast, head in fp32. ``fp32`` on CUDA switches TF32 off, ``tf32``
    on, for exactly its own calls. torch-compile on CUDA is ``mode="reduce-overhead"``: inductor's kernels replayed
    as CUDA graphs, one per batch size (each recorded in the warm-up call)."""

    def __init__(self, spec: Spec, bm: BenchModel) -> None:
        import torch

        from pcan_serve import load_model

        model, _ = load_model(bm.checkpoint, preset=bm.preset, device=spec.device)
        self.spec, self.name, self.device = spec, spec.runtime, spec.device
        channels_last = not spec.cuda or spec.runtime == "torch-eager-cl"
        self.format = torch.channels_last_3d if channels_last else torch.contiguous_format
        model = model.to(memory_format=self.format)
        self.backbone, self.head = model.backbone, model.cls_head
        if spec.cuda:
            torch.backends.cudnn.benchmark = True  # as serving (TorchBackend)
        if spec.runtime == "torch-compile":  # compiled on the first call (the warm-up)
            mode = "reduce-overhead" if spec.cuda else None
            self.backbone, self.head = torch.compile(self.backbone, mode=mode), torch.compile(self.head, mode=mode)

    def run(self, imgs: np.ndarray, heatmaps: np.ndarray) -> dict[str, np.ndarray]:
        import contextlib

        import torch

        from .peak import tf32

        x, h = (torch.from_numpy(np.ascontiguousarray(a)).to(self.device) for a in (imgs, heatmaps))
        x, h = x.contiguous(memory_format=self.format), h.contiguous(memory_format=self.format)
        fp16 = self.spec.precision == "fp16"
        flags = tf32(self.spec.precision == "tf32") if self.spec.cuda else contextlib.nullcontext()
        with flags, torch.inference_mode():
            with torch.autocast(x.device.type, dtype=torch.float16, enabled=fp16):
                x_rgb, x_pose = self.backbone(x, h)
            logits = self.head(x_rgb.float(), x_pose.float())
        return {k: torch.softmax(v.float(), dim=1).cpu().numpy() for k, v in logits.items()}
