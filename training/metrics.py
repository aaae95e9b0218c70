"""``PCANAccMetric``: top-k accuracy of each PCAN branch and of the RGB/Pose late fusions.

mmaction2's ``AccMetric`` only fuses when a model has exactly two branches; PCAN has three. Names (with
the evaluator's ``acc/`` prefix): ``rgb_top1``, ``pose_top1``, ``fused_top1``, ``RGBPose_1:1_top1``,
``RGBPose_2:1_top1``, ``RGBPose_1:2_top1`` and the same with ``top5`` (k capped at the class count).
Late fusion = (w_rgb * p_rgb + w_pose * p_pose) / (w_rgb + w_pose) over probabilities.
"""

from collections.abc import Sequence
from typing import Any

import numpy as np

from pcan_serve.model.scores import late_fusion
from training import mmaction_compat

mmaction_compat.apply()

from mmaction.registry import METRICS  # noqa: E402
from mmengine.evaluator import BaseMetric  # noqa: E402


def topk_accuracy(scores: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Fraction of rows whose label is among the ``k`` highest scores."""
    k = min(k, scores.shape[1])
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    return float((top == labels[:, None]).any(axis=1).mean())


@METRICS.register_module()
class PCANAccMetric(BaseMetric):
    default_prefix = "acc"

    def __init__(
        self,
        topk: Sequence[int] = (1, 5),
        fusion_ratios: Sequence[Sequence[int]] = ((1, 1), (2, 1), (1, 2)),
        collect_device: str = "cpu",
        prefix: str | None = None,
    ) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.topk = tuple(int(k) for k in topk)
        self.fusion_ratios = tuple((int(a), int(b)) for a, b in fusion_ratios)

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            scores = {name: s.detach().cpu().float().numpy() for name, s in sample["pred_score"].items()}
            self.results.append({"scores": scores, "label": int(sample["gt_label"].item())})

    def compute_metrics(self, results: list[dict]) -> dict[str, float]:
        labels = np.array([r["label"] for r in results])
        scores = {name: np.stack([r["scores"][name] for r in results]) for name in results[0]["scores"]}
        metrics: dict[str, float] = {}

        def add(name: str, values: np.ndarray) -> None:
            for k in self.topk:
                metrics[f"{name}_top{k}"] = topk_accuracy(values, labels, k)

        for name, values in scores.items():
            add(name, values)
        if "rgb" in scores and "pose" in scores:
            for w_rgb, w_pose in self.fusion_ratios:
                fused = late_fusion(scores["rgb"], scores["pose"], (w_rgb, w_pose))
                add(f"RGBPose_{w_rgb}:{w_pose}", fused)
        return metrics
