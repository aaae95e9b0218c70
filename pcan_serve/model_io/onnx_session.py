"""Opening an ONNX Runtime session: the one place that picks providers and turns ORT's errors into pcan's."""

from pathlib import Path
from typing import Any

from ..errors import CheckpointError


def ort_cuda_usable() -> bool:
    """ONNX Runtime has its CUDA provider and torch sees a GPU (onnxruntime-gpu lists the provider on any machine)."""
    import onnxruntime as ort
    import torch

    return "CUDAExecutionProvider" in ort.get_available_providers() and torch.cuda.is_available()


def open_session(path: str | Path, gpu: int | None = None, options: Any = None) -> Any:
    """An ``InferenceSession`` on the CPU provider, or on CUDA's for GPU number ``gpu`` first (the caller checked
    it is usable; ORT's provider would otherwise take GPU 0 whatever ``cuda:N`` said); ``options``:
    ``SessionOptions`` (e.g. the benchmark's profiling)."""
    import onnxruntime as ort

    cpu = ["CPUExecutionProvider"]
    providers = cpu if gpu is None else [("CUDAExecutionProvider", {"device_id": gpu}), *cpu]
    try:
        return ort.InferenceSession(str(path), options, providers=providers)
    except Exception as exc:  # ORT raises its own exception types (Fail, InvalidProtobuf, NoSuchFile)
        raise CheckpointError(f"cannot load ONNX model {Path(path).name}: {exc}") from None
