"""``PCANRecognizer``: pcan_serve's PCAN as an mmaction2 model, so mmengine's Runner can train it.

The backbone and head are the very modules ``pcan_serve.model.PCAN`` builds, registered under the names
``backbone`` and ``cls_head``: a runner checkpoint's state dict has PCAN's keys (plus mmaction2's
``data_preprocessor.*`` buffers, which ``pcan_serve.load_model`` ignores) and loads for serving as it is.
Model options (preset, classes, loss weights ...) are fields of the registered model, so
``--cfg-options model.loss_weights=[1.0,2.0,0.5,0.8]`` works.
"""

from collections.abc import Sequence
from dataclasses import replace

import torch
from torch import nn

from pcan_serve.model import PCAN, PCANConfig, preset_config
from training import mmaction_compat

mmaction_compat.apply()

from mmaction.registry import MODELS  # noqa: E402
from mmengine.model import BaseModel  # noqa: E402

BRANCHES = ("rgb", "pose", "fused")


def build_pcan_config(
    preset: str = "ntu60",
    num_classes: int | None = None,
    class_names: Sequence[str] | None = None,
    **head_fields: object,
) -> PCANConfig:
    """A preset's config with the class list and head fields (loss weights, dropout ...) replaced."""
    if class_names is not None:
        class_names = tuple(str(n) for n in class_names)
        if num_classes is not None and num_classes != len(class_names):
            raise ValueError(f"num_classes={num_classes} but {len(class_names)} class_names were given")
    cfg = preset_config(preset)
    if class_names is not None:
        cfg = cfg.with_num_classes(class_names)
    elif num_classes is not None and num_classes != cfg.head.num_classes:
        cfg = preset_config(preset, num_classes)
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in head_fields.items() if v is not None}
    return replace(cfg, head=replace(cfg.head, **fields)) if fields else cfg


@MODELS.register_module()
class PCANRecognizer(BaseModel):
    """mmengine model around PCAN's backbone and head.

    ``inputs`` are mmaction2's multi-modal batch: ``imgs`` [N, clips, 3, T, H, W] (normalised by the data
    preprocessor) and ``heatmap_imgs`` [N, clips, 17, T', h, w]. ``predict`` returns per-branch
    probabilities averaged over clips as ``pred_score = {"rgb", "pose", "fused"}``.
    """

    def __init__(
        self,
        preset: str = "ntu60",
        num_classes: int | None = None,
        class_names: Sequence[str] | None = None,
        loss_weights: Sequence[float] | None = None,
        loss_components: Sequence[str] | None = None,
        dropout: float | None = None,
        align_temperature: float | None = None,
        data_preprocessor: dict | None = None,
        init_cfg: dict | None = None,
    ) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.pcan_config = build_pcan_config(
            preset,
            num_classes,
            class_names,
            loss_weights=loss_weights,
            loss_components=loss_components,
            dropout=dropout,
            align_temperature=align_temperature,
        )
        net = PCAN(self.pcan_config)  # builds and initialises (mmaction2's init scheme)
        self.backbone: nn.Module = net.backbone
        self.cls_head: nn.Module = net.cls_head

    def init_weights(self) -> None:
        """Nothing to do: PCAN's constructor initialised every parameter; load_from overwrites them."""

    @property
    def fused_head_trained(self) -> bool:
        head = self.pcan_config.head
        return any(c == "fused" and w > 0 for c, w in zip(head.loss_components, head.loss_weights, strict=True))

    def logits(self, imgs: torch.Tensor, heatmaps: torch.Tensor) -> dict[str, torch.Tensor]:
        """PCAN's forward: ``{"rgb", "pose", "fused"}`` logits for [N, 3, T, H, W] / [N, 17, T', h, w]."""
        x_rgb, x_pose = self.backbone(imgs, heatmaps)
        return self.cls_head(x_rgb, x_pose)

    @staticmethod
    def _flatten(inputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, int]:
        imgs, heatmaps = inputs["imgs"], inputs["heatmap_imgs"]
        clips = imgs.shape[1]
        return imgs.flatten(0, 1), heatmaps.flatten(0, 1), clips

    def forward(self, inputs: dict[str, torch.Tensor], data_samples: list | None = None, mode: str = "tensor"):
        imgs, heatmaps, clips = self._flatten(inputs)
        logits = self.logits(imgs, heatmaps)
        if mode == "tensor":
            return logits
        if mode == "loss":
            labels = torch.cat([s.gt_label for s in data_samples]).to(imgs.device).repeat_interleave(clips)
            losses = self.cls_head.loss(logits, labels)
            with torch.no_grad():  # batch accuracies, logged beside the losses (not summed: no "loss" in name)
                for name in BRANCHES:
                    losses[f"acc_{name}"] = (logits[name].argmax(1) == labels).float().mean()
            return losses
        if mode == "predict":
            n = len(data_samples)
            for name in BRANCHES:
                probs = logits[name].softmax(dim=1).view(n, clips, -1).mean(dim=1)
                logits[name] = probs
            for i, sample in enumerate(data_samples):
                sample.set_pred_score({name: logits[name][i] for name in BRANCHES})
            return data_samples
        raise ValueError(f"unknown mode {mode!r}; expected 'tensor', 'loss' or 'predict'")
