"""The runtimes a model forward is timed on, each opened from the one benchmark checkpoint or its ONNX.

A name is ``runtime[-fp16]``: torch-eager, torch-compile, onnxruntime, tensorrt; ``--device`` says where.
Whatever cannot run here raises :class:`Unavailable` with the reason, which becomes a skipped record.
"""

import shutil
from dataclasses import dataclass
from typing import Any

from .artifacts import BenchModel, ensure_onnx

RUNTIMES = ("torch-eager", "torch-compile", "onnxruntime", "tensorrt")
DEFAULTS = {
    "cpu": ("torch-eager", "torch-compile", "onnxruntime"),
    "cuda": ("torch-eager", "torch-eager-fp16", "torch-compile-fp16", "onnxruntime", "tensorrt-fp16"),
}


class Unavailable(RuntimeError):
    """This backend cannot run on this machine; the message says why."""


@dataclass(frozen=True)
class Spec:
    runtime: str
    device: str
    precision: str = "fp32"

    @property
    def name(self) -> str:
        return self.runtime + ("-fp16" if self.precision == "fp16" else "")


def parse(name: str, device: str) -> Spec:
    runtime, fp16 = (name[: -len("-fp16")], True) if name.endswith("-fp16") else (name, False)
    if runtime not in RUNTIMES:
        raise ValueError(f"unknown backend {name!r}; known: {', '.join(RUNTIMES)} (optionally with -fp16)")
    return Spec(runtime, device, "fp16" if fp16 else "fp32")


def default_specs(device: str) -> list[Spec]:
    return [parse(n, device) for n in DEFAULTS["cuda" if device.startswith("cuda") else "cpu"]]


def open_spec(spec: Spec, bm: BenchModel, max_batch: int) -> Any:
    """An object with ``run(imgs, heatmaps) -> {branch: probs}``, or :class:`Unavailable`."""
    cuda = spec.device.startswith("cuda")
    if spec.precision == "fp16" and not cuda:
        raise Unavailable("fp16 is only benchmarked on CUDA")
    if spec.runtime in ("torch-eager", "torch-compile"):
        return _torch(spec, bm, cuda)
    if spec.runtime == "onnxruntime":
        if spec.precision == "fp16":
            raise Unavailable("the exported ONNX model is fp32; use tensorrt-fp16 for fp16")
        return _onnxruntime(spec, bm)
    return _tensorrt(spec, bm, max_batch)


def _torch(spec: Spec, bm: BenchModel, cuda: bool) -> Any:
    import torch

    from pcan_serve.runtime import TorchBackend

    if cuda and not torch.cuda.is_available():
        raise Unavailable("torch sees no CUDA GPU here")
    backend = TorchBackend(bm.checkpoint, preset=bm.preset, device=spec.device, fp16=spec.precision == "fp16")
    if spec.runtime == "torch-compile":
        if not cuda and not (shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")):
            raise Unavailable("torch.compile (inductor) needs a C++ compiler on CPU, and none is on PATH")
        # Backbone and head separately: the fp16 path calls them one by one (backbone under autocast, head
        # in fp32), which would bypass a compiled whole model. Compiled on the first call (the warm-up).
        backend.model.backbone = torch.compile(backend.model.backbone)
        backend.model.cls_head = torch.compile(backend.model.cls_head)
    return backend


def _onnxruntime(spec: Spec, bm: BenchModel) -> Any:
    import onnxruntime as ort

    if spec.device.startswith("cuda") and "CUDAExecutionProvider" not in ort.get_available_providers():
        raise Unavailable(
            f"this ONNX Runtime build has no CUDA provider (providers: {', '.join(ort.get_available_providers())})"
        )
    try:
        path = ensure_onnx(bm)
    except RuntimeError as exc:
        raise Unavailable(str(exc)) from None
    from pcan_serve.errors import BackendUnavailable
    from pcan_serve.runtime import OnnxRuntimeBackend

    try:
        backend = OnnxRuntimeBackend(path, device=spec.device)
    except BackendUnavailable as exc:
        raise Unavailable(str(exc)) from None
    if spec.device.startswith("cuda") and backend.session.get_providers()[0] != "CUDAExecutionProvider":
        raise Unavailable("ONNX Runtime's CUDA provider did not load (the session fell back to the CPU)")
    return backend


def _tensorrt(spec: Spec, bm: BenchModel, max_batch: int) -> Any:
    try:
        from export.onnx_export import read_onnx_meta
        from export.tensorrt_export import build_engine, require_tensorrt
    except ImportError as exc:
        raise Unavailable(f"TensorRT export unavailable ({exc})") from None
    from pcan_serve.errors import BackendUnavailable
    from pcan_serve.runtime import TensorRTBackend
    from pcan_serve.runtime.backends import tensorrt_sidecar

    try:
        require_tensorrt()
    except BackendUnavailable as exc:
        raise Unavailable(str(exc)) from None
    try:
        onnx_path = ensure_onnx(bm)
    except RuntimeError as exc:
        raise Unavailable(str(exc)) from None
    engine = bm.workdir / f"bench-{bm.preset}-{spec.precision}.engine"
    build_engine(
        onnx_path, engine, fp16=spec.precision == "fp16", min_batch=1, opt_batch=max_batch, max_batch=max_batch
    )
    tensorrt_sidecar(engine).write_text(read_onnx_meta(onnx_path).to_json())
    return TensorRTBackend(engine)
