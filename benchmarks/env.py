"""Where a benchmark ran: software versions, CPU, GPU and the load, so a result can be read in context.

No peak FLOP/s here: the peak a result is compared with is measured in the same run (:mod:`.peak`).
"""

import os
import platform
import subprocess
import time
from importlib import metadata
from typing import Any

PACKAGES = (
    "torch onnxruntime-gpu onnxruntime numpy av decord opencv-python mmaction2 mmengine mmcv-lite bentoml".split()
)
PACKAGES += ["tensorrt", "matplotlib"]


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def cpu_info() -> dict[str, Any]:
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        text = ""
    ls = {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in text.splitlines()) if v}
    logical = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    flags = set(ls.get("Flags", "").split())
    return {
        "model": ls.get("Model name") or platform.processor() or "unknown",
        "logical_cpus": logical,
        "cores": max(1, logical // int(ls.get("Thread(s) per core") or 1)),
        "vector_isa": next((f for f in ("avx512f", "avx2", "avx", "neon") if f in flags), "other"),
    }


def gpu_info() -> dict[str, Any] | None:
    import torch

    if not torch.cuda.is_available():
        return None
    return {
        "name": torch.cuda.get_device_name(0),
        "cuda": torch.version.cuda,
        "count": torch.cuda.device_count(),
        "memory_gib": round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1),
        "cudnn": torch.backends.cudnn.version(),
    }


def loadavg() -> list[float] | None:
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None


def environment() -> dict[str, Any]:
    import torch

    return {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": platform.node(),
        "platform": platform.platform(),
        "versions": versions(),
        "cpu": cpu_info(),
        "gpu": gpu_info(),
        "torch_threads": torch.get_num_threads(),
        "loadavg_start": loadavg(),
    }
