"""One TFLite model on LiteRT (``ai-edge-litert``), inputs and outputs by name.

Why LiteRT: the BlazePose weights are TFLite flatbuffers, and LiteRT is Google's own runtime for them (the
models run as published, with the XNNPACK CPU kernels mediapipe uses); it supports NumPy 2 and pins no protobuf,
whereas mediapipe needs protobuf < 5 and converting to ONNX would add a step and a numerical check for nothing.
An interpreter is not thread-safe: each :class:`TFLiteModel` serialises its calls with a lock. LiteRT is imported
when a model loads, so that `pcan` starts without it.
"""

import os
import threading
from pathlib import Path

import numpy as np

from ..errors import BackendUnavailable

THREADS_ENV = "PCAN_POSE_THREADS"
DEFAULT_THREADS = int(os.environ.get(THREADS_ENV) or max(1, min(4, (os.cpu_count() or 2) // 2)))
"""Threads per model call: half the CPUs (at most 4) by default, leaving the rest to decoding and other requests."""


class TFLiteModel:
    """``model(x)`` -> {output name: array}; ``x`` float32 of the input's shape."""

    def __init__(self, path: Path, num_threads: int = DEFAULT_THREADS) -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            raise BackendUnavailable("the pose estimator needs LiteRT: pip install ai-edge-litert==2.3.0") from None
        self.path = path
        self._interpreter = Interpreter(model_path=str(path), num_threads=num_threads)
        self._interpreter.allocate_tensors()
        [inp] = self._interpreter.get_input_details()
        self._input = inp["index"]
        self._outputs = {d["name"]: d["index"] for d in self._interpreter.get_output_details()}
        self._lock = threading.Lock()

    def __call__(self, x: np.ndarray, names: tuple[str, ...]) -> dict[str, np.ndarray]:
        with self._lock:
            self._interpreter.set_tensor(self._input, np.ascontiguousarray(x, dtype=np.float32))
            self._interpreter.invoke()
            return {name: self._interpreter.get_tensor(self._outputs[name]).copy() for name in names}
