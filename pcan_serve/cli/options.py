"""Options shared by the `pcan` commands, declared once (names, help, defaults), and the model they select."""

from pathlib import Path
from typing import Annotated

import typer

from ..model_io import ModelSource
from .errors import UsageError

Checkpoint = Annotated[Path | None, typer.Option(help="PyTorch checkpoint (.pth).", show_default=False)]
Onnx = Annotated[Path | None, typer.Option(help="Exported ONNX model (.onnx).", show_default=False)]
Engine = Annotated[Path | None, typer.Option(help="TensorRT engine (.engine, with its .json beside it).")]
Preset = Annotated[
    str | None, typer.Option(help="ntu60 | tiny: the config of a checkpoint without one; alone: untrained weights.")
]
Device = Annotated[str, typer.Option(help="cpu | cuda | cuda:N | auto (a GPU when torch sees one).")]


def model_source(
    checkpoint: Path | None = None,
    onnx: Path | None = None,
    engine: Path | None = None,
    preset: str | None = None,
    tag: str | None = None,
) -> ModelSource:
    """The one model the flags name (at most one of them), its file of the kind its flag says."""
    given = [(flag, v) for flag, v in (("--checkpoint", checkpoint), ("--onnx", onnx), ("--engine", engine)) if v]
    if tag is not None:
        given.append(("--model", tag))
    if len(given) > 1:
        raise UsageError(f"give one model, not {' and '.join(flag for flag, _ in given)}")
    if tag is not None:
        return ModelSource(tag=tag, preset=preset)
    if not given:
        return ModelSource(preset=preset)
    flag, path = given[0]
    backend = {"--checkpoint": "torch", "--onnx": "onnxruntime", "--engine": "tensorrt"}[flag]
    return ModelSource.file(path, backend, preset)
