"""Joining or starting Ray for ``pcan predict --executor ray``, and sizing the job to the cluster it finds."""

import logging
from dataclasses import dataclass
from typing import Any

from .errors import UsageError

REPLICA_CPUS = 1.0  # per replica; on CPU one core (Ray sets its OMP_NUM_THREADS to 1): scale with --num-replicas


def import_ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401  (the extra installs both; a bare `pip install ray` lacks Ray Data)
    except ImportError:
        raise UsageError("--executor ray needs Ray Data: pip install 'pcan[ray]' (or make install)") from None
    return ray


def connect(address: str | None) -> bool:
    """Join ``address``, start a local Ray (all of this machine's CPUs, no dashboard), or keep the connection
    this process already has (a notebook, the tests). Returns whether ``pcan`` owns it and must shut it down."""
    ray = import_ray()
    if ray.is_initialized():
        return False
    try:
        if address is None:
            ray.init(include_dashboard=False, logging_level=logging.WARNING)
        else:
            ray.init(address=address, logging_level=logging.WARNING)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        raise UsageError(f"cannot {'start Ray' if address is None else f'join Ray at {address}'}: {exc}") from None
    return True


@dataclass(frozen=True)
class Plan:
    """The resources each stage asks Ray for: they always fit the cluster, so no request waits forever."""

    replicas: int
    replica_cpus: float
    replica_gpus: float
    decode_cpus: float
    device: str  # what each replica runs on: "cuda" (one GPU each) or "cpu"


def plan(resources: dict[str, float], device: str, num_replicas: int | None, decode_cpus: float | None) -> Plan:
    """Replicas: one per GPU, or 3/4 of the CPUs (a CPU replica's forward takes ~3x one decode); decoding keeps
    at least one task's CPUs. ``resources`` is ``ray.cluster_resources()``."""
    cpus, gpus = resources.get("CPU", 0.0), int(resources.get("GPU", 0.0))
    decode_cpus = 1.0 if decode_cpus is None else decode_cpus
    if decode_cpus <= 0:
        raise UsageError(f"--decode-cpus must be positive, got {decode_cpus:g}")
    if device.startswith("cuda") and gpus == 0:
        raise UsageError(f"--device {device}: the Ray cluster has no GPU")
    on_gpu = gpus > 0 and device != "cpu"
    if num_replicas is None:
        num_replicas = gpus if on_gpu else max(1, min(int(cpus * 3 / 4), int(cpus - decode_cpus)))
    need = num_replicas * REPLICA_CPUS + decode_cpus
    if need > cpus or (on_gpu and num_replicas > gpus):
        have = f"{cpus:g} CPUs" + (f" and {gpus} GPUs" if on_gpu else "")
        raise UsageError(
            f"the Ray cluster has {have}: {num_replicas} replicas x {REPLICA_CPUS:g} CPU"
            + (" + 1 GPU" if on_gpu else "")
            + f" and one decode task of --decode-cpus {decode_cpus:g} do not fit, so the job would wait forever; "
            "lower --num-replicas or --decode-cpus, or add nodes"
        )
    return Plan(num_replicas, REPLICA_CPUS, 1.0 if on_gpu else 0.0, decode_cpus, "cuda" if on_gpu else "cpu")
