"""mmengine hooks registered into mmaction2's HOOKS registry (importing this package registers them)."""

from .describe_checkpoint import PCANCheckpointMetaHook
from .guard import PCANGuardHook
from .monitor import PCANMonitorHook

__all__ = ["PCANCheckpointMetaHook", "PCANGuardHook", "PCANMonitorHook"]
