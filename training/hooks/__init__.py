"""mmengine hooks registered into mmaction2's HOOKS registry (importing this package registers them)."""

from .guard import PCANGuardHook
from .meta import PCANCheckpointMetaHook
from .monitor import PCANMonitorHook

__all__ = ["PCANCheckpointMetaHook", "PCANGuardHook", "PCANMonitorHook"]
