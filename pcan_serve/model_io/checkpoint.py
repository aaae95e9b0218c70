"""Load PCAN / RGBPoseConv3D checkpoints safely, say what was loaded, and save self-describing checkpoints.

Kinds read: pcan (mmengine layout with ``meta['pcan']``, the :class:`ModelMeta`), mmengine runner
checkpoints, plain state dicts, ``module.``-prefixed (DDP) ones and official RGBPoseConv3D checkpoints (no
fused head: served as rgb, pose and their late fusion). Every read goes through :func:`safe_torch_load`.
"""

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError, CheckpointMismatch
from ..model import PCAN, PCANConfig, preset_config
from .meta import METADATA_KEY, ModelMeta
from .safe_load import safe_torch_load

FUSED_PREFIXES = ("cls_head.fused_", "cls_head.fc_fused.")
IGNORED_PREFIXES = ("data_preprocessor.",)  # mmaction2's preprocessor buffers; we normalise ourselves
UNTRAINED_SEED = 0  # untrained weights are the same in every process, so the CLI and the service agree


@dataclass
class ModelInfo:
    """What ``load_model`` loaded: the model's description plus where it came from, in words a user can act on."""

    source: str
    kind: str  # "pcan" | "mmengine" | "state_dict" | "untrained"
    description: ModelMeta
    notes: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)  # the runner's epoch / iter / mmengine_version

    @property
    def config(self) -> PCANConfig:
        return self.description.config

    @property
    def preset(self) -> str:
        return self.description.config.name

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.description.class_names

    @property
    def fused_head(self) -> bool:
        return self.description.fused_head

    @property
    def weights(self) -> str:
        return self.description.weights


def _extract_state_dict(obj: Any) -> tuple[dict[str, torch.Tensor], dict[str, Any], str]:
    if not isinstance(obj, dict):
        raise CheckpointError(f"checkpoint holds a {type(obj).__name__}, expected a dict of tensors")
    if "state_dict" in obj and isinstance(obj["state_dict"], dict):
        meta = obj.get("meta") or {}
        kind = "pcan" if isinstance(meta, dict) and METADATA_KEY in meta else "mmengine"
        return obj["state_dict"], meta if isinstance(meta, dict) else {}, kind
    if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return obj, {}, "state_dict"
    raise CheckpointError("checkpoint has no 'state_dict' and is not a plain dict of tensors")


def _strip_prefixes(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    if state and all(k.startswith("module.") for k in state):  # DistributedDataParallel wrapper
        state = {k[len("module.") :]: v for k, v in state.items()}
    return {k: v for k, v in state.items() if not k.startswith(IGNORED_PREFIXES)}


def _describe(keys: list[str], limit: int = 8) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f" ... and {len(keys) - limit} more" if len(keys) > limit else "")


def load_state(model: PCAN, state: dict[str, torch.Tensor]) -> tuple[bool, list[str]]:
    """Copy ``state`` into ``model``; returns (fused head loaded, notes). Mismatches raise in words."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [
        f"{k} (checkpoint {tuple(state[k].shape)}, model {tuple(own[k].shape)})"
        for k in own
        if k in state and state[k].shape != own[k].shape
    ]
    missing_fused = [k for k in missing if k.startswith(FUSED_PREFIXES)]
    missing_other = [k for k in missing if not k.startswith(FUSED_PREFIXES)]
    problems = []
    if wrong:
        problems.append(f"{len(wrong)} tensors have the wrong shape: {_describe(wrong)}")
    if missing_other:
        problems.append(f"{len(missing_other)} model tensors are missing: {_describe(missing_other)}")
    if unexpected:
        problems.append(f"{len(unexpected)} checkpoint tensors are unknown to PCAN: {_describe(unexpected)}")
    if problems:
        raise CheckpointMismatch(
            f"checkpoint does not fit PCAN '{model.config.name}': "
            + "; ".join(problems)
            + ". Is it an RGBPoseConv3D/PCAN checkpoint of this preset?"
        )
    model.load_state_dict(state, strict=False)
    notes = []
    fused = not missing_fused
    if not fused:
        notes.append(
            "no trained fused head in the checkpoint (e.g. an official RGBPoseConv3D one): serving rgb, "
            "pose and their late fusion only"
        )
    return fused, notes


def untrained_model(config: PCANConfig) -> PCAN:
    """PCAN with its initial weights drawn from a fixed seed, without touching the global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(UNTRAINED_SEED)
        return PCAN(config)


def _stored_description(meta: dict[str, Any], source: str) -> ModelMeta | None:
    stored = meta.get(METADATA_KEY)
    return ModelMeta.from_dict(stored, source) if stored is not None else None


def load_model(
    path: str | Path | None = None, preset: str | None = None, device: str | torch.device = "cpu"
) -> tuple[PCAN, ModelInfo]:
    """Build PCAN and load ``path`` into it (eval mode). ``path=None`` -> seeded untrained weights of ``preset``."""
    if path is None:
        cfg = preset_config(preset or "ntu60")
        info = ModelInfo("untrained", "untrained", ModelMeta(cfg, fused_head=False, weights="untrained"))
        info.notes.append("no checkpoint given: untrained weights, predictions are meaningless")
        return untrained_model(cfg).to(device).eval(), info
    raw = safe_torch_load(path)
    state, meta, kind = _extract_state_dict(raw)
    state = _strip_prefixes(state)
    stored = _stored_description(meta, Path(path).name)
    if stored is not None:
        cfg = stored.config
        if preset is not None and preset != cfg.name:
            raise CheckpointError(f"checkpoint is a '{cfg.name}' PCAN, but preset '{preset}' was asked for")
    else:
        fc = state.get("cls_head.fc_rgb.weight")
        cfg = preset_config(preset or "ntu60", int(fc.shape[0]) if fc is not None else None)
    model = PCAN(cfg)
    fused, notes = load_state(model, state)
    if fused and stored is not None and not stored.fused_head:
        fused = False
        notes.append("the fused head was not trained in this checkpoint: serving rgb, pose and late fusion")
    description = replace(stored, fused_head=fused) if stored is not None else ModelMeta(cfg, fused_head=fused)
    info = ModelInfo(str(path), kind, description, notes)
    info.meta = {k: meta[k] for k in ("epoch", "iter", "mmengine_version") if k in meta}
    return model.to(device).eval(), info


def save_checkpoint(
    model: PCAN, path: str | Path, fused_head_trained: bool = True, description: ModelMeta | None = None, **meta: Any
) -> Path:
    """Save a PCAN checkpoint in mmengine layout (``state_dict`` + ``meta``) with its description inside."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    description = description or ModelMeta(model.config, fused_head=fused_head_trained)
    payload = {
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "meta": {**meta, METADATA_KEY: description.to_dict()},
    }
    torch.save(payload, path)
    return path
