"""Every shim mmaction2 1.2.0 needs on today's stack, in one place, each with its reason.

Call :func:`apply` before importing ``mmaction``; it is idempotent.

1. ``mmaction.models`` imports ``localizers.drn``, which the PyPI wheel of 1.2.0 does not ship
   -> register an empty placeholder package whose ``DRN`` raises if anyone builds it.
2. ``MMCompact``/``PoseCompact`` use ``np.Inf``, removed in NumPy 2.0 -> alias it to ``np.inf``.
3. mmengine 0.10.7 calls ``torch.load`` with torch's default, which is ``weights_only=True`` since
   torch 2.6, and mmengine checkpoints hold numpy objects -> route mmengine's checkpoint loaders through
   :func:`pcan_serve.checkpoint.safe_torch_load` (weights_only plus an explicit allowlist; never a full
   unpickle).
4. ``mmcv-lite`` must be < 2.2 (mmaction2 asserts the mmcv version) and ``importlib_metadata`` must be
   installed: both are pinned in pyproject.toml, nothing to patch at run time.
"""

import sys
import types

import numpy as np

_applied = False


class _MissingDRN:
    def __init__(self, *args, **kwargs) -> None:
        raise ImportError("DRN is not shipped in the mmaction2 1.2.0 wheel; pcan does not use it")


def _stub_drn() -> None:
    if "mmaction.models.localizers.drn" in sys.modules:
        return
    pkg = types.ModuleType("mmaction.models.localizers.drn")
    pkg.__path__ = []  # a package, so that ``.drn.drn`` resolves
    mod = types.ModuleType("mmaction.models.localizers.drn.drn")
    mod.DRN = _MissingDRN
    pkg.drn = mod
    sys.modules[pkg.__name__] = pkg
    sys.modules[mod.__name__] = mod


def _patch_numpy() -> None:
    if not hasattr(np, "Inf"):
        np.Inf = np.inf


def _patch_mmengine_load() -> None:
    from mmengine.runner import checkpoint as ckpt

    from pcan_serve.checkpoint import safe_torch_load

    def _load_local(filename, map_location=None):
        return safe_torch_load(filename, map_location=map_location or "cpu")

    ckpt.CheckpointLoader._schemes[r""] = _load_local  # local paths; the other schemes are remote


def apply() -> None:
    global _applied
    if _applied:
        return
    _patch_numpy()
    _stub_drn()
    _patch_mmengine_load()
    _applied = True
