"""``torch.load(weights_only=True)`` plus an explicit allowlist: the only way pcan reads a ``.pth``.

The allowlist holds the non-tensor types an mmengine checkpoint written on torch 2.x contains (numpy
arrays/scalars/dtypes in ``meta`` and the message hub, mmengine's ``HistoryBuffer``). Anything else is
refused with the type named; nothing is ever fully unpickled. mmengine itself is not imported: its
``HistoryBuffer`` is matched by module/name through a plain stand-in class that only receives the pickled state.
"""

import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import CheckpointError, UnsafeCheckpoint


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
        if found:
            raise UnsafeCheckpoint(
                f"refused to load {Path(path).name}: it needs the Python type '{found.group(1)}', which is not in "
                "pcan's allowlist of safe checkpoint contents (tensors, numpy values, mmengine "
                "HistoryBuffer). Re-save the weights as a plain state dict."
            ) from None
        raise CheckpointError(
            f"cannot read {Path(path).name}: not a PyTorch checkpoint that pcan can load safely ({_first_line(text)})"
        ) from None


def _first_line(text: str) -> str:
    """torch's unpickler buries the reason (e.g. 'Unsupported operand 35') below a generic paragraph."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    detail = next((line for line in lines if line.startswith(("Unsupported", "invalid load key"))), None)
    return detail or (lines[0] if lines else "unreadable")
