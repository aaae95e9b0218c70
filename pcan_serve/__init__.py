"""pcan inference: model, checkpoint loading, preprocessing, runtimes, service and CLI."""

from .checkpoint import ModelInfo, load_model, save_checkpoint

__all__ = ["ModelInfo", "load_model", "save_checkpoint"]
