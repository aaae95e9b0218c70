"""Runtimes behind one interface: ``run(imgs, heatmaps) -> {"rgb","pose"[,"fused"]: probabilities}``.

Every backend returns softmax probabilities as float32 NumPy arrays [N, num_classes], so results from
torch, ONNX Runtime and TensorRT are directly comparable. A calibrated model's temperatures divide the logits
before the softmax: here in the torch backend, inside the graph for ONNX Runtime and TensorRT (export/wrapper.py).
"""

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from ..errors import BackendUnavailable, CheckpointError, InvalidRequest
from ..model.scores import calibrated_softmax
from ..model_io import ModelMeta, backend_of, load_model, meta_from_onnx_props, read_tensorrt_meta
from ..model_io.onnx_session import open_session, ort_cuda_usable
from .precision import mixed_precision_logits


class Backend(Protocol):
    name: str
    device: str
    meta: ModelMeta

    def run(self, imgs: np.ndarray, heatmaps: np.ndarray) -> dict[str, np.ndarray]: ...


class TorchBackend:
    """PyTorch eager; on CUDA the backbone runs under fp16 autocast, the head in fp32 (``precision.py``)."""

    name = "torch"

    def __init__(self, checkpoint: str | Path | None, preset: str | None = None, device: str = "cpu") -> None:
        device = resolve_device(device)
        self.model, self.info = load_model(checkpoint, preset=preset, device=device)
        self.device = device
        self.fp16 = device.startswith("cuda")
        self.meta = self.info.description
        # oneDNN's 3D convolutions run faster channels-last on CPU (full model, batch 1, 2 cores:
        # 8.4 s -> 6.0 s; outputs equal to 4e-8). Not applied on CUDA, where it was not measured.
        self.memory_format = torch.channels_last_3d if device == "cpu" else torch.contiguous_format
        self.model = self.model.to(memory_format=self.memory_format)

    @torch.inference_mode()
    def run(self, imgs: np.ndarray, heatmaps: np.ndarray) -> dict[str, np.ndarray]:
        x, h = (
            torch.from_numpy(np.ascontiguousarray(a)).to(self.device).contiguous(memory_format=self.memory_format)
            for a in (imgs, heatmaps)
        )
        with _cudnn_autotuned(self.device):
            logits = mixed_precision_logits(self.model, x, h, torch.float16 if self.fp16 else None)
        keys = ("rgb", "pose", "fused") if self.meta.fused_head else ("rgb", "pose")
        t = self.meta.temperatures
        return {k: calibrated_softmax(logits[k], t[k]).cpu().numpy() for k in keys}


class OnnxRuntimeBackend:
    """ONNX Runtime; the CUDA provider when it is usable, else the CPU provider.

    An int8 file (``pcan export onnx --quantize int8``) always runs on the CPU provider: its fused QLinearConv
    kernels are CPU kernels (the CUDA provider has none, microsoft/onnxruntime#24807), so on CUDA the graph
    would bounce between devices for nothing.
    """

    name = "onnxruntime"

    def __init__(self, path: str | Path, device: str = "cpu") -> None:
        device = resolve_device(device)
        cuda = device.startswith("cuda")
        usable = cuda and ort_cuda_usable()
        self.session = open_session(path, gpu_index(device) if usable else None)
        self.meta = meta_from_onnx_props(self.session.get_modelmeta().custom_metadata_map, Path(path).name)
        int8 = self.meta.quantization == "int8"
        if cuda and not usable and not int8:
            raise BackendUnavailable(f"device {device} was asked for, but ONNX Runtime has no usable CUDA provider")
        if usable and int8:
            self.session = open_session(path)
        self.device = device if usable and not int8 else "cpu"
        self.outputs = [o.name for o in self.session.get_outputs()]

    def run(self, imgs: np.ndarray, heatmaps: np.ndarray) -> dict[str, np.ndarray]:
        feeds = {"imgs": np.ascontiguousarray(imgs, np.float32), "heatmaps": np.ascontiguousarray(heatmaps, np.float32)}
        values = self.session.run(self.outputs, feeds)
        out = dict(zip(self.outputs, values, strict=True))
        if not self.meta.fused_head:
            out.pop("fused", None)
        return out


class TensorRTBackend:
    """A serialized TensorRT engine (built by ``pcan export tensorrt``), run through torch CUDA buffers."""

    name = "tensorrt"

    def __init__(self, path: str | Path) -> None:
        try:
            import tensorrt as trt
        except ImportError:
            raise BackendUnavailable(
                "TensorRT is not installed: it is published on NVIDIA's package index, not PyPI "
                "(pip install --extra-index-url https://pypi.nvidia.com tensorrt), and needs an NVIDIA GPU. "
                "Use --onnx with onnxruntime instead."
            ) from None
        if not torch.cuda.is_available():
            raise BackendUnavailable("TensorRT needs an NVIDIA GPU, and torch sees no CUDA device here")
        self.meta = read_tensorrt_meta(path)
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self.engine = runtime.deserialize_cuda_engine(Path(path).read_bytes())
        if self.engine is None:
            raise CheckpointError(f"TensorRT could not deserialize {Path(path).name} (built for another version/GPU?)")
        self.context = self.engine.create_execution_context()
        self.device = "cuda"
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.outputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        _, _, max_shape = self.engine.get_tensor_profile_shape("imgs", 0)
        self.max_batch = int(max_shape[0])  # larger batches are split to the optimisation profile's range

    def run(self, imgs: np.ndarray, heatmaps: np.ndarray) -> dict[str, np.ndarray]:
        parts = [
            self._run(imgs[i : i + self.max_batch], heatmaps[i : i + self.max_batch])
            for i in range(0, len(imgs), self.max_batch)
        ]
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    def _run(self, imgs: np.ndarray, heatmaps: np.ndarray) -> dict[str, np.ndarray]:
        stream = torch.cuda.current_stream()
        inputs = {
            "imgs": torch.from_numpy(np.ascontiguousarray(imgs, np.float32)).cuda(),
            "heatmaps": torch.from_numpy(np.ascontiguousarray(heatmaps, np.float32)).cuda(),
        }
        for name, tensor in inputs.items():
            if not self.context.set_input_shape(name, tuple(tensor.shape)):
                raise RuntimeError(f"TensorRT engine rejects {name} of shape {tuple(tensor.shape)}")
            self.context.set_tensor_address(name, tensor.data_ptr())
        outputs = {}
        for name in self.outputs:
            shape = tuple(self.context.get_tensor_shape(name))
            outputs[name] = torch.empty(shape, dtype=torch.float32, device="cuda")
            self.context.set_tensor_address(name, outputs[name].data_ptr())
        if not self.context.execute_async_v3(stream.cuda_stream):
            raise RuntimeError("TensorRT execution failed")
        stream.synchronize()
        out = {k: v.cpu().numpy() for k, v in outputs.items()}
        if not self.meta.fused_head:
            out.pop("fused", None)
        return out


@contextlib.contextmanager
def _cudnn_autotuned(device: str) -> Iterator[None]:
    """On CUDA, cuDNN times its convolution algorithms once per input shape and keeps the fastest; serving sees
    few shapes (fixed clips, batches of 1..batch_size), so the search is paid once per batch size. Set for the
    forward only, so the process's own cuDNN setting is left as it was."""
    before = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = before or device.startswith("cuda")
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = before


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when torch sees a GPU, else ``cpu``; ``cuda``/``cuda:N`` must name a GPU torch sees
    (``BackendUnavailable`` otherwise, so nothing runs on the CPU when a GPU was asked for)."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        return device
    index = device.removeprefix("cuda").removeprefix(":")
    if not device.startswith("cuda") or (device != "cuda" and not (device.startswith("cuda:") and index.isdigit())):
        raise InvalidRequest(f"unknown device {device!r}; use cpu, cuda, cuda:N or auto")
    if not torch.cuda.is_available():
        raise BackendUnavailable(f"device {device} was asked for, but torch sees no CUDA GPU here")
    if index and int(index) >= torch.cuda.device_count():
        raise BackendUnavailable(f"device {device} was asked for, but torch sees {torch.cuda.device_count()} GPU(s)")
    return device


def gpu_index(device: str) -> int:
    """The GPU number of a resolved ``cuda``/``cuda:N`` (``cuda`` is GPU 0)."""
    return int(device.partition(":")[2] or 0)


def open_backend(path: str | Path | None, preset: str | None = None, device: str = "auto") -> Backend:
    """The runtime the file needs (``model_io.backend_of``); ``None`` -> seeded untrained torch weights."""
    device = resolve_device(device)
    if path is None:
        return TorchBackend(None, preset=preset, device=device)
    if not Path(path).is_file():
        raise CheckpointError(f"model file not found: {path}")
    kind = backend_of(path)
    if kind == "onnxruntime":
        return OnnxRuntimeBackend(path, device=device)
    if kind == "tensorrt":
        return TensorRTBackend(path)
    return TorchBackend(path, preset=preset, device=device)
