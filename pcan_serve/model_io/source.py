"""Which model to use, defined once for every entry point (`pcan predict`, `serve`, `models import`, `bench`, the
service's settings): a model file, a model-store tag, or a preset's seeded untrained weights."""

from dataclasses import dataclass
from pathlib import Path

from ..errors import CheckpointError
from ..model import PRESETS
from .artifacts import TENSORRT_SUFFIXES, backend_of

KINDS = {"torch": "a PyTorch checkpoint", "onnxruntime": "an ONNX model (.onnx)", "tensorrt": "a TensorRT engine"}


@dataclass(frozen=True)
class ModelSource:
    """At most one of ``path`` and ``tag``; neither: the newest stored model where a store is used, else untrained
    ``preset`` weights. ``preset`` also names the config of a checkpoint that carries none."""

    path: Path | None = None
    tag: str | None = None
    preset: str | None = None

    def __post_init__(self) -> None:
        if self.path is not None and self.tag is not None:
            raise CheckpointError("a model is a file or a model-store tag, not both")
        if self.preset is not None and self.preset not in PRESETS:
            raise CheckpointError(f"unknown preset {self.preset!r}; choose one of {', '.join(sorted(PRESETS))}")

    @classmethod
    def file(cls, path: str | Path, backend: str | None = None, preset: str | None = None) -> "ModelSource":
        """A model file that exists and, when ``backend`` is given, is that runtime's kind of file."""
        path = Path(path)
        if not path.is_file():
            raise CheckpointError(f"model file not found: {path}")
        kind = backend_of(path)
        if backend is not None and kind != backend:
            wanted = KINDS[backend] + (f" ({', '.join(TENSORRT_SUFFIXES)})" if backend == "tensorrt" else "")
            raise CheckpointError(f"{path.name} is {KINDS[kind]} by its suffix, not {wanted}")
        return cls(path=path, preset=preset)

    @property
    def backend(self) -> str:
        """The runtime a file needs; untrained weights run on torch."""
        return backend_of(self.path) if self.path is not None else "torch"

    def describe(self) -> str:
        if self.path is not None:
            return str(self.path)
        if self.tag is not None:
            return f"model-store tag {self.tag}"
        return f"untrained {self.preset or 'ntu60'} weights"
