"""Calibrate a checkpoint on a config's validation set and write the result as a new self-describing checkpoint.

The checkpoint decides the model (``pcan_serve.load_model``), the config decides the data: its val dataset,
pipeline and data preprocessor, so the logits are exactly those validation sees. They are computed as the torch
backend serves them (fp16 backbone on CUDA), one row per clip, and fitted by :mod:`training.calibration`. A
plain DataLoader reads the set in one process, so this also runs after a distributed training run, on rank 0.
"""

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from pcan_serve.errors import InvalidRequest
from pcan_serve.model import PCAN
from pcan_serve.model_io import ModelMeta, load_model, save_checkpoint
from pcan_serve.runtime import resolve_device
from pcan_serve.runtime.precision import mixed_precision_logits
from training import mmaction_compat
from training.calibration import CalibrationFit, fit

mmaction_compat.apply()

from mmaction.registry import DATASETS, MODELS  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.dataset import pseudo_collate  # noqa: E402
from mmengine.registry import DefaultScope  # noqa: E402

import training.register  # noqa: E402,F401


class CalibrationError(InvalidRequest):
    """The data cannot calibrate this checkpoint (no val set, labels outside the model's classes ...)."""


@dataclass(frozen=True)
class Calibrated:
    path: Path
    fit: CalibrationFit
    meta: ModelMeta


def default_output(checkpoint: str | Path) -> Path:
    """``best.pth`` -> ``best_calibrated.pth`` beside it."""
    path = Path(checkpoint)
    return path.with_name(f"{path.stem}_calibrated{path.suffix}")


@torch.inference_mode()
def collect_logits(
    cfg: Config, model: PCAN, meta: ModelMeta, device: str = "cpu"
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Logits ``{branch: [N, clips, C]}`` (fused only when trained) and labels [N] of ``cfg``'s val set."""
    loader_cfg = cfg.get("val_dataloader")
    if not loader_cfg:
        raise CalibrationError("the config has no val_dataloader to calibrate on")
    with DefaultScope.overwrite_default_scope("mmaction"):
        dataset = DATASETS.build(loader_cfg["dataset"])
        preprocessor = MODELS.build(cfg.model["data_preprocessor"]).to(device)
    if not len(dataset):
        raise CalibrationError("the validation split is empty")
    loader = DataLoader(
        dataset,
        batch_size=loader_cfg.get("batch_size", 1),
        num_workers=loader_cfg.get("num_workers", 0),
        collate_fn=pseudo_collate,
    )
    branches = ("rgb", "pose", "fused") if meta.fused_head else ("rgb", "pose")
    chunks: dict[str, list[np.ndarray]] = {b: [] for b in branches}
    labels: list[np.ndarray] = []
    fp16 = torch.float16 if device.startswith("cuda") else None
    for batch in loader:
        data = preprocessor(batch, False)
        imgs, heatmaps = data["inputs"]["imgs"], data["inputs"]["heatmap_imgs"]
        n, clips = imgs.shape[:2]
        logits = mixed_precision_logits(model, imgs.flatten(0, 1), heatmaps.flatten(0, 1), fp16)
        for b in branches:
            chunks[b].append(logits[b].float().view(n, clips, -1).cpu().numpy())
        labels.append(torch.cat([s.gt_label for s in data["data_samples"]]).cpu().numpy())
    y = np.concatenate(labels).astype(np.int64)
    classes = len(meta.class_names)
    if y.min() < 0 or y.max() >= classes:
        raise CalibrationError(f"validation labels span {y.min()}..{y.max()}, but the model has {classes} classes")
    return {b: np.concatenate(c) for b, c in chunks.items()}, y


def calibrate_checkpoint(
    cfg: Config, checkpoint: str | Path, output: str | Path | None = None, device: str = "auto"
) -> Calibrated:
    """Fit temperatures and fusion weights on ``cfg``'s val set; write ``checkpoint`` + calibration to ``output``.

    The learned fusion weights become the description's ``fusion_weights``: every consumer serves them.
    ``output`` may be ``checkpoint`` itself; it defaults to :func:`default_output`.
    """
    device = resolve_device(device)
    model, info = load_model(checkpoint, device=device)
    logits, labels = collect_logits(cfg, model, info.description, device)
    split = str(cfg.val_dataloader["dataset"].get("split") or "val")
    fitted = fit(logits, labels, split)
    meta = replace(info.description, calibration=fitted.to_meta(), fusion_weights=fitted.fusion_weights)
    path = save_checkpoint(model.cpu(), output or default_output(checkpoint), description=meta, **info.meta)
    return Calibrated(path, fitted, meta)
