"""``PCANMonitorHook``: each loss component's share of the total and each pathway's gradient norm.

Logged every iteration as ``loss_share_<component>`` and ``grad_norm_<pathway>`` (rgb_path, pose_path,
head), and summarised per epoch into the message hub's ``pcan/epoch_stats`` info for the guard report.
A branch that dominates the loss or whose gradients vanish/explode is the usual cause of a collapse.

Gradients only exist between backward and the optimizer step inside ``OptimWrapper.update_params``, so
the hook wraps that wrapper's ``step`` (before clipping; divided by the loss scale under AMP).
"""

import functools
from collections import defaultdict

import torch

from training import mmaction_compat

mmaction_compat.apply()

from mmaction.registry import HOOKS  # noqa: E402
from mmengine.hooks import Hook  # noqa: E402
from mmengine.model import is_model_wrapper  # noqa: E402

PATHWAYS = {"rgb_path": "backbone.rgb_path.", "pose_path": "backbone.pose_path.", "head": "cls_head."}
STATS_KEY = "pcan/epoch_stats"


def _global_norm(params: list[torch.nn.Parameter]) -> float:
    norms = [p.grad.detach().float().norm(2) for p in params if p.grad is not None]
    return float(torch.stack(norms).norm(2)) if norms else 0.0


@HOOKS.register_module()
class PCANMonitorHook(Hook):
    priority = "NORMAL"

    def __init__(self) -> None:
        self._groups: dict[str, list[torch.nn.Parameter]] = {}
        self._sums: dict[str, float] = defaultdict(float)
        self._counts: dict[str, int] = defaultdict(int)

    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        named = list(model.named_parameters())
        self._groups = {
            name: [p for n, p in named if n.startswith(prefix) and p.requires_grad] for name, prefix in PATHWAYS.items()
        }
        wrapper = runner.optim_wrapper
        original_step = wrapper.step

        @functools.wraps(original_step)  # keeps the schedulers' step-counter mark: no "overridden" warning
        def step(*args, **kwargs):
            scaler = getattr(wrapper, "loss_scaler", None)
            scale = float(scaler.get_scale()) if scaler is not None else 1.0
            for name, params in self._groups.items():
                value = _global_norm(params) / scale
                runner.message_hub.update_scalar(f"train/grad_norm_{name}", value)
                self._add(f"grad_norm/{name}", value)
            return original_step(*args, **kwargs)

        wrapper.step = step

    def _add(self, key: str, value: float) -> None:
        self._sums[key] += value
        self._counts[key] += 1

    def before_train_epoch(self, runner) -> None:
        self._sums.clear()
        self._counts.clear()

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        components = {
            k[len("loss_") :]: float(v.detach() if torch.is_tensor(v) else v)
            for k, v in (outputs or {}).items()
            if k.startswith("loss_")
        }
        total = sum(components.values())
        if total <= 0:
            return
        for name, value in components.items():
            share = value / total
            runner.message_hub.update_scalar(f"train/loss_share_{name}", share)
            self._add(f"loss_share/{name}", share)

    def after_train_epoch(self, runner) -> None:
        summary: dict[str, dict[str, float]] = {"loss_share": {}, "grad_norm": {}}
        for key, total in self._sums.items():
            kind, name = key.split("/", 1)
            summary[kind][name] = total / self._counts[key]
        stats = dict(runner.message_hub.get_info(STATS_KEY) or {})
        stats[str(runner.epoch + 1)] = summary  # runner.epoch counts finished epochs; this one is +1
        runner.message_hub.update_info(STATS_KEY, stats)
        shares = ", ".join(f"{k} {100 * v:.1f}%" for k, v in summary["loss_share"].items())
        norms = ", ".join(f"{k} {v:.3g}" for k, v in summary["grad_norm"].items())
        runner.logger.info(f"epoch {runner.epoch + 1} loss shares: {shares}; mean grad norms: {norms}")
