"""Every shim mmaction2 1.2.0 needs on today's stack, in one place, each with its reason.

Call :func:`apply` before importing ``mmaction``; it is idempotent.

1. ``mmaction.models`` imports ``localizers.drn``, which the PyPI wheel of 1.2.0 does not ship
   -> register an empty placeholder package whose ``DRN`` raises if anyone builds it.
2. ``MMCompact``/``PoseCompact`` use ``np.Inf``, removed in NumPy 2.0 -> alias it to ``np.inf``.
3. mmengine 0.10.7 calls ``torch.load`` with torch's default, which is ``weights_only=True`` since
   torch 2.6, and mmengine checkpoints hold numpy objects -> route mmengine's checkpoint loaders through
   :func:`pcan_serve.model_io.safe_torch_load` (weights_only plus an explicit allowlist; never a full
   unpickle).
4. ``mmcv-lite`` must be < 2.2 (mmaction2 asserts the mmcv version) and ``importlib_metadata`` must be
   installed: both are pinned in pyproject.toml, nothing to patch at run time.
5. mmengine 0.10.7's ``init_dist('pytorch')`` calls ``torch.cuda.set_device(LOCAL_RANK)`` unconditionally,
   which raises on a CPU-only torch build -> on hosts without CUDA, initialise the process group without
   it (multi-process CPU training with gloo: tests, CI). CUDA hosts keep mmengine's own code.
6. ``ColorJitter.adjust_hue`` adds a negative Python int to a uint8 array, which NumPy 2 refuses
   (OverflowError; NumPy 1 silently widened it): switching ColorJitter on crashed training -> replace it
   with the same hue rotation computed in int16 (OpenCV's 8-bit hue range is 0..179).
7. Third-party noise that says nothing about the user's run, hidden by exact message: mmcv-lite's "Fail to
   import MultiScaleDeformableAttention" (pcan never uses it; the full mmcv is not installable here),
   mmengine's FileClient/HardDiskBackend deprecation notices (logged by mmaction2's own transforms through
   every MMLogger, so a filter goes on each new MMLogger), and the
   "scheduler.step() before optimizer.step()" UserWarning, which mmengine's OptimWrapper triggers on its
   first iteration although the order is right (the learning rates logged per iteration show the schedule).
"""

import logging
import sys
import types
import warnings

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

    from pcan_serve.model_io import safe_torch_load

    def _load_local(filename, map_location=None):
        return safe_torch_load(filename, map_location=map_location or "cpu")

    ckpt.CheckpointLoader._schemes[r""] = _load_local  # local paths; the other schemes are remote


def _patch_cpu_dist_init() -> None:
    import torch
    from mmengine.dist import utils as dist_utils

    if torch.cuda.is_available():
        return
    original = dist_utils._init_dist_pytorch

    def _init_dist_pytorch(backend, init_backend="torch", **kwargs):
        if init_backend != "torch":
            return original(backend, init_backend=init_backend, **kwargs)
        torch.distributed.init_process_group(backend=backend, **kwargs)

    dist_utils._init_dist_pytorch = _init_dist_pytorch


def _hue_shift(img: np.ndarray, factor: float) -> np.ndarray:
    import cv2

    hsv = cv2.cvtColor(np.clip(img, 0, 255).astype(np.uint8), cv2.COLOR_RGB2HSV)
    hue = hsv[..., 0].astype(np.int16) + int(factor * 255)
    hsv[..., 0] = np.mod(hue, 180).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB).astype(np.float32)


def _patch_color_jitter() -> None:
    from mmaction.datasets.transforms import processing

    processing.ColorJitter.adjust_hue = staticmethod(_hue_shift)


_NOISE = (
    r"Fail to import ``MultiScaleDeformableAttention``",
    r"Detected call of `scheduler.step\(\)` before `optimizer.step\(\)`",
)
_LOG_NOISE = ('"FileClient" will be deprecated', '"HardDiskBackend" is the alias of "LocalBackend"')


def _not_noise(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith(_LOG_NOISE)


def _quiet_noise() -> None:
    for message in _NOISE:
        warnings.filterwarnings("ignore", message=message)
    from mmengine.logging import MMLogger

    original = MMLogger.__init__

    def init(self, *args, **kwargs) -> None:
        original(self, *args, **kwargs)
        self.addFilter(_not_noise)

    MMLogger.__init__ = init
    for logger in MMLogger._instance_dict.values():
        logger.addFilter(_not_noise)


def apply() -> None:
    global _applied
    if _applied:
        return
    _quiet_noise()
    _patch_numpy()
    _stub_drn()
    _patch_mmengine_load()
    _patch_cpu_dist_init()
    _patch_color_jitter()
    _applied = True
