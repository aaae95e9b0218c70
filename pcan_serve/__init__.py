"""pcan inference: model, model files, preprocessing, runtimes, HTTP service and CLI.

``from pcan_serve import load_model, Predictor``: both are imported on first use, so training (which needs
only the model and checkpoints) does not pay for onnxruntime and the video decoder.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .model_io import ModelInfo, ModelMeta, load_model, save_checkpoint
    from .runtime import Predictor

_LAZY = {
    "ModelInfo": ".model_io",
    "ModelMeta": ".model_io",
    "load_model": ".model_io",
    "save_checkpoint": ".model_io",
    "Predictor": ".runtime",
}
__all__ = ["ModelInfo", "ModelMeta", "Predictor", "load_model", "save_checkpoint"]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'pcan_serve' has no attribute {name!r}")
    value = getattr(import_module(_LAZY[name], __name__), name)
    globals()[name] = value
    return value
