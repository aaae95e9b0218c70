"""The seed's fine-tuning lessons as data: epoch-1 gates, collapse checks and the remediation table.

Pure functions over plain mappings (an mmengine ``Config`` works): no mmengine import, so the rules are
testable on their own. Accuracies are in percent. A remedy is a set of config changes, given both as
dotted keys for ``--cfg-options`` and as whole values for a ``_base_``-inheriting overrides file.

Table (docs/architecture.md "Training recipe"): fused < 87 -> lr 0.0005; pose < 78 -> pose loss weight 1.0;
rgb < 87 -> the original augmentation (RandomResizedCrop area (0.56, 1.0), no ColorJitter); a remedy
that is already in the config cannot help again -> last resort: train from scratch for 50 epochs.
"""

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

BRANCH_METRICS = {"rgb": "acc/rgb_top1", "pose": "acc/pose_top1", "fused": "acc/fused_top1"}
HEADLINE_METRIC = "acc/RGBPose_1:1_top1"
DEFAULT_GATES = {"fused": 88.5, "rgb": 88.5, "pose": 80.0}
DEFAULT_REMEDY_BELOW = {"fused": 87.0, "pose": 78.0, "rgb": 87.0}
TABLE_ORDER = ("fused", "pose", "rgb")
REMEDY_LR = 0.0005
REMEDY_POSE_WEIGHT = 1.0
ORIGINAL_AUGMENTATION = {"area_range": (0.56, 1.0), "color_jitter": False}
SCRATCH_EPOCHS = 50


@dataclass
class Finding:
    """One failed check: a gate (epoch 1) or a collapse (a branch fell too far below its baseline)."""

    kind: str  # "gate" | "collapse"
    branch: str
    epoch: int
    value: float
    limit: float
    baseline: float | None = None

    def describe(self) -> str:
        if self.kind == "gate":
            return f"epoch {self.epoch}: {self.branch} top1 {self.value:.2f} is below its gate {self.limit:.2f}"
        return (
            f"epoch {self.epoch}: {self.branch} top1 {self.value:.2f} collapsed from its baseline "
            f"{self.baseline:.2f} (limit {self.limit:.2f})"
        )


@dataclass
class Remedy:
    rule: str
    action: str
    updates: dict[str, Any] = field(default_factory=dict)  # dotted key -> new value (whole values)
    cfg_options: list[str] = field(default_factory=list)  # key=value tokens for --cfg-options
    notes: list[str] = field(default_factory=list)


def to_percent(metrics: Mapping[str, Any]) -> dict[str, float]:
    """Branch top-1 accuracies (evaluator fractions) as percent, keyed rgb/pose/fused (+ headline)."""
    out = {b: 100.0 * float(metrics[k]) for b, k in BRANCH_METRICS.items() if k in metrics}
    if HEADLINE_METRIC in metrics:
        out["RGBPose_1:1"] = 100.0 * float(metrics[HEADLINE_METRIC])
    return out


def resolve_limits(
    limits: Mapping[str, float], relative: bool, baseline: Mapping[str, float] | None
) -> dict[str, float] | None:
    """Absolute percent limits; ``relative`` ones are drops below the baseline (None without a baseline)."""
    if not relative:
        return dict(limits)
    if baseline is None:
        return None
    return {b: baseline[b] - drop for b, drop in limits.items() if b in baseline}


def check_gates(
    values: Mapping[str, float], gates: Mapping[str, float], epoch: int, baseline: Mapping[str, float] | None = None
) -> list[Finding]:
    return [
        Finding("gate", b, epoch, values[b], limit, (baseline or {}).get(b))
        for b, limit in gates.items()
        if b in values and values[b] < limit
    ]


def check_collapse(
    values: Mapping[str, float], baseline: Mapping[str, float], margin: float, epoch: int
) -> list[Finding]:
    return [
        Finding("collapse", b, epoch, values[b], baseline[b] - margin, baseline[b])
        for b in BRANCH_METRICS
        if b in values and b in baseline and baseline[b] - values[b] > margin
    ]


def _get(cfg: Mapping[str, Any], dotted: str, default: Any = None) -> Any:
    node: Any = cfg
    for part in dotted.split("."):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list | tuple) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return default
    return node


def format_value(value: Any) -> str:
    """A value as ``--cfg-options`` (mmengine's DictAction) parses it back; no spaces."""
    if isinstance(value, tuple):
        return "(" + ",".join(format_value(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, list):
        return "[" + ",".join(format_value(v) for v in value) + "]"
    return repr(value) if isinstance(value, str) and not value else str(value)


def train_pipeline_key(cfg: Mapping[str, Any]) -> str | None:
    """Dotted key of the training pipeline (looks through dataset wrappers such as RepeatDataset)."""
    key = "train_dataloader.dataset"
    while _get(cfg, key) is not None:
        if _get(cfg, key + ".pipeline") is not None:
            return key + ".pipeline"
        key += ".dataset"
    return None


def _is_color_jitter(step: Mapping[str, Any]) -> bool:
    if step.get("type") == "ColorJitter":
        return True
    return step.get("type") == "RandomApply" and any(
        _is_color_jitter(t) for t in step.get("transforms", []) if isinstance(t, Mapping)
    )


def _jitter_active(step: Mapping[str, Any]) -> bool:
    return step.get("type") == "ColorJitter" or float(step.get("prob", 0.5)) > 0


def _lr_remedy(cfg: Mapping[str, Any]) -> Remedy | None:
    lr = _get(cfg, "optim_wrapper.optimizer.lr")
    if lr is not None and float(lr) <= REMEDY_LR:
        return None
    return Remedy(
        "fused",
        f"lower the learning rate from {lr} to {REMEDY_LR}",
        {"optim_wrapper.optimizer.lr": REMEDY_LR},
        [f"optim_wrapper.optimizer.lr={REMEDY_LR}"],
    )


def _pose_weight_remedy(cfg: Mapping[str, Any]) -> Remedy | None:
    components = list(_get(cfg, "model.loss_components") or ("rgb", "pose", "align", "fused"))
    weights = _get(cfg, "model.loss_weights")
    if weights is None or "pose" not in components:
        return None
    weights = [float(w) for w in weights]
    i = components.index("pose")
    if weights[i] <= REMEDY_POSE_WEIGHT:
        return None
    new = weights.copy()
    new[i] = REMEDY_POSE_WEIGHT
    return Remedy(
        "pose",
        f"lower the pose loss weight from {weights[i]} to {REMEDY_POSE_WEIGHT} (loss_weights {new})",
        {"model.loss_weights": new},
        [f"model.loss_weights={format_value(new)}"],
    )


def _augmentation_remedy(cfg: Mapping[str, Any]) -> Remedy | None:
    key = train_pipeline_key(cfg)
    if key is None:
        return None
    pipeline = [dict(step) for step in _get(cfg, key)]
    area = tuple(ORIGINAL_AUGMENTATION["area_range"])
    new, options, notes, changed = [], [], [], []
    for i, step in enumerate(pipeline):
        if step.get("type") == "RandomResizedCrop" and tuple(step.get("area_range", ())) != area:
            changed.append(f"RandomResizedCrop area_range {tuple(step.get('area_range', ()))} -> {area}")
            step = {**step, "area_range": area}
            options.append(f"{key}.{i}.area_range={format_value(area)}")
        elif _is_color_jitter(step) and _jitter_active(step):
            changed.append("ColorJitter off")
            if step.get("type") == "RandomApply":
                options.append(f"{key}.{i}.prob=0.0")
            else:
                notes.append("a bare ColorJitter step cannot be removed with --cfg-options: use overrides.py")
            continue  # dropped from the whole-pipeline value
        new.append(step)
    if not changed:
        return None
    return Remedy("rgb", "restore the original augmentation: " + "; ".join(changed), {key: new}, options, notes)


def _scratch_remedy(cfg: Mapping[str, Any], epochs: int = SCRATCH_EPOCHS) -> Remedy:
    old = _get(cfg, "train_cfg.max_epochs")
    updates: dict[str, Any] = {"load_from": None, "train_cfg.max_epochs": epochs}
    options = ["load_from=None", f"train_cfg.max_epochs={epochs}"]
    schedulers = copy.deepcopy(list(_get(cfg, "param_scheduler") or []))
    for i, sched in enumerate(schedulers):
        if sched.get("end") == old:  # the decay that ran to the old last epoch now runs to the new one
            sched["end"] = epochs
            options.append(f"param_scheduler.{i}.end={epochs}")
            if "T_max" in sched:
                sched["T_max"] = epochs - int(sched.get("begin", 0))
                options.append(f"param_scheduler.{i}.T_max={sched['T_max']}")
    if schedulers:
        updates["param_scheduler"] = schedulers
    return Remedy("last resort", f"train from scratch for {epochs} epochs (no load_from)", updates, options)


REMEDY_BUILDERS = {"fused": _lr_remedy, "pose": _pose_weight_remedy, "rgb": _augmentation_remedy}


def remedies_for(branches: set[str], cfg: Mapping[str, Any]) -> list[Remedy]:
    """Table remedies for the failing ``branches``, in table order; the last resort when none can help."""
    if not branches:
        return []
    found = [r for b in TABLE_ORDER if b in branches and (r := REMEDY_BUILDERS[b](cfg)) is not None]
    return found or [_scratch_remedy(cfg)]


def table_branches(values: Mapping[str, float], remedy_below: Mapping[str, float]) -> set[str]:
    """Branches under their remediation threshold (the table's left column)."""
    return {b for b, limit in remedy_below.items() if b in values and values[b] < limit}


def merge_updates(remedies: list[Remedy]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for r in remedies:
        merged.update(r.updates)
    return merged


def nest(updates: Mapping[str, Any]) -> dict[str, Any]:
    """``{"a.b.c": v}`` -> ``{"a": {"b": {"c": v}}}`` (for a _base_-inheriting config file)."""
    out: dict[str, Any] = {}
    for dotted, value in updates.items():
        node = out
        *parents, last = dotted.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    return out
