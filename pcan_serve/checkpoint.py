"""Load PCAN / RGBPoseConv3D checkpoints safely, report what was loaded, and save PCAN checkpoints.

``torch.load(weights_only=True)`` plus an explicit allowlist of the non-tensor types an mmengine
checkpoint written on torch 2.x contains (numpy arrays/scalars/dtypes in ``meta`` and the message hub,
mmengine's ``HistoryBuffer``). Anything else is refused with the type named; nothing is ever fully
unpickled. mmengine itself is not imported: its ``HistoryBuffer`` is matched by module/name through a
plain stand-in class that only receives the pickled state.
"""

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import CheckpointError, CheckpointMismatch, UnsafeCheckpoint
from .model import PCAN, PCANConfig, preset_config

FUSED_PREFIXES = ("cls_head.fused_", "cls_head.fc_fused.")
IGNORED_PREFIXES = ("data_preprocessor.",)  # mmaction2's preprocessor buffers; we normalise ourselves
FORMAT_VERSION = 1


class HistoryBuffer:
    """Stand-in for ``mmengine.logging.history_buffer.HistoryBuffer`` (message-hub scalars)."""

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)


HistoryBuffer.__module__ = "mmengine.logging.history_buffer"

_HISTORY_STATISTICS = frozenset({"min", "max", "mean", "current"})


def _restricted_getattr(obj: Any, name: str) -> str:
    """Stands in for ``builtins.getattr``, which mmengine pickles for HistoryBuffer's statistics methods
    (``getattr(HistoryBuffer, 'min')``). A general getattr would let a crafted file walk from an allowed
    object to ``eval``; this one answers only that single mmengine pattern, with an inert name."""
    if obj is HistoryBuffer and name in _HISTORY_STATISTICS:
        return f"HistoryBuffer.{name}"
    raise UnsafeCheckpoint(
        f"checkpoint asks for attribute {name!r} of {obj!r}; only mmengine's HistoryBuffer statistics are allowed"
    )


def _numpy_globals() -> list[Any]:
    core = np._core if hasattr(np, "_core") else np.core
    allowed: list[Any] = [np.ndarray, np.dtype, core.multiarray._reconstruct, core.multiarray.scalar]
    # numpy >= 1.25 pickles dtypes through their classes (numpy.dtypes.Float64DType, ...)
    allowed += [getattr(np.dtypes, n) for n in dir(np.dtypes) if n.endswith("DType")]
    allowed += [np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64]
    allowed += [np.float16, np.float32, np.float64, np.str_]
    return allowed


def _aliased(obj: Any, module: str) -> tuple[Any, str]:
    return (obj, f"{module}.{obj.__name__}")


def safe_globals() -> list[Any]:
    """The allowlist: numpy's reconstruction helpers and types, and mmengine's HistoryBuffer.

    numpy 2 moved ``numpy.core`` to ``numpy._core``; checkpoints written under numpy 1.x name the old
    module, so both spellings are allowed for the same objects.
    """
    items = _numpy_globals()
    core = np._core if hasattr(np, "_core") else np.core
    items += [
        _aliased(core.multiarray._reconstruct, "numpy.core.multiarray"),
        _aliased(core.multiarray.scalar, "numpy.core.multiarray"),
        _aliased(core.multiarray._reconstruct, "numpy._core.multiarray"),
        _aliased(core.multiarray.scalar, "numpy._core.multiarray"),
        HistoryBuffer,
        (_restricted_getattr, "builtins.getattr"),
        (_restricted_getattr, "__builtin__.getattr"),
    ]
    return items


def safe_torch_load(path: str | Path, map_location: str | torch.device = "cpu") -> Any:
    """``torch.load(weights_only=True)`` with the allowlist; a disallowed type -> ``UnsafeCheckpoint``."""
    try:
        with torch.serialization.safe_globals(safe_globals()):
            return torch.load(path, map_location=map_location, weights_only=True)
    except UnsafeCheckpoint:
        raise
    except FileNotFoundError as exc:
        raise CheckpointError(f"checkpoint not found: {path}") from exc
    except Exception as exc:  # torch raises UnpicklingError / RuntimeError with the global in its text
        text = str(exc)
        found = re.search(r"GLOBAL ([\w.]+)", text) or re.search(r"global ([\w.]+)", text)
        if found or "weights_only" in text.lower() or "Unsupported" in text:
            name = found.group(1) if found else "an unknown type"
            raise UnsafeCheckpoint(
                f"refused to load {Path(path).name}: it needs the Python type '{name}', which is not in "
                "pcan's allowlist of safe checkpoint contents (tensors, numpy values, mmengine "
                "HistoryBuffer). Re-save the weights as a plain state dict."
            ) from None
        raise CheckpointError(f"cannot read checkpoint {Path(path).name}: {text.splitlines()[0]}") from None


@dataclass
class ModelInfo:
    """What ``load_model`` loaded, in words a user can act on."""

    source: str
    kind: str  # "pcan" | "mmengine" | "state_dict" | "untrained"
    preset: str
    config: PCANConfig
    weights: str = "trained"  # "trained" | "untrained"
    fused_head: bool = True
    notes: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.config.class_names

    def summary(self) -> dict[str, Any]:
        return {
            "name": f"pcan-{self.preset}",
            "weights": self.weights,
            "fused_head": self.fused_head,
            "source": self.source,
            "notes": list(self.notes),
        }


def _extract_state_dict(obj: Any) -> tuple[dict[str, torch.Tensor], dict[str, Any], str]:
    if not isinstance(obj, dict):
        raise CheckpointError(f"checkpoint holds a {type(obj).__name__}, expected a dict of tensors")
    if "state_dict" in obj and isinstance(obj["state_dict"], dict):
        meta = obj.get("meta") or {}
        kind = "pcan" if isinstance(meta, dict) and "pcan" in meta else "mmengine"
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


def _config_for(state: dict[str, torch.Tensor], meta: dict[str, Any], preset: str | None) -> PCANConfig:
    stored = meta.get("pcan", {}).get("config") if isinstance(meta.get("pcan"), dict) else None
    if stored is not None:
        cfg = PCANConfig.from_dict(stored)
        if preset is not None and preset != cfg.name:
            raise CheckpointError(f"checkpoint is a '{cfg.name}' PCAN, but preset '{preset}' was asked for")
        return cfg
    fc = state.get("cls_head.fc_rgb.weight")
    num_classes = int(fc.shape[0]) if fc is not None else None
    return preset_config(preset or "ntu60", num_classes)


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


def load_model(
    path: str | Path | None = None, preset: str | None = None, device: str | torch.device = "cpu"
) -> tuple[PCAN, ModelInfo]:
    """Build PCAN and load ``path`` into it (eval mode). ``path=None`` -> untrained weights of ``preset``."""
    if path is None:
        cfg = preset_config(preset or "ntu60")
        model = PCAN(cfg).to(device).eval()
        info = ModelInfo("untrained", "untrained", cfg.name, cfg, weights="untrained", fused_head=False)
        info.notes.append("no checkpoint given: untrained weights, predictions are meaningless")
        return model, info
    raw = safe_torch_load(path)
    state, meta, kind = _extract_state_dict(raw)
    state = _strip_prefixes(state)
    cfg = _config_for(state, meta, preset)
    model = PCAN(cfg)
    fused, notes = load_state(model, state)
    pcan_meta = meta.get("pcan", {}) if isinstance(meta.get("pcan"), dict) else {}
    if fused and pcan_meta.get("fused_head_trained") is False:
        fused = False
        notes.append("the fused head was not trained in this checkpoint: serving rgb, pose and late fusion")
    info = ModelInfo(str(path), kind, cfg.name, cfg, fused_head=fused, notes=notes)
    info.meta = {k: meta[k] for k in ("epoch", "iter", "mmengine_version") if k in meta}
    return model.to(device).eval(), info


def pcan_meta(config: PCANConfig, fused_head_trained: bool = True) -> dict[str, Any]:
    """The ``meta['pcan']`` entry that makes a checkpoint self-describing."""
    return {"format_version": FORMAT_VERSION, "config": config.to_dict(), "fused_head_trained": fused_head_trained}


def save_checkpoint(model: PCAN, path: str | Path, fused_head_trained: bool = True, **meta: Any) -> Path:
    """Save a PCAN checkpoint in mmengine layout (``state_dict`` + ``meta``) with its config inside."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "meta": {**meta, "pcan": pcan_meta(model.config, fused_head_trained)},
    }
    torch.save(payload, path)
    return path
