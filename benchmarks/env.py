"""Where a benchmark ran: software versions, CPU and GPU, and the device's peak FLOP/s.

CPU peak is an *estimate*: physical cores x clock x FLOPs per cycle, the last read off the CPU's flags
(AVX-512 -> 64, AVX2+FMA -> 32, AVX -> 16, else 8 fp32 FLOPs/cycle, i.e. two vector FMA/add pipes per
core). GPU peaks come from a table of vendor datasheet figures (dense, no sparsity).
"""

import os
import platform
import re
import subprocess
import time
from importlib import metadata
from typing import Any

PACKAGES = (
    "torch",
    "onnxruntime-gpu",
    "onnxruntime",
    "numpy",
    "decord",
    "opencv-python",
    "opencv-python-headless",
    "mmaction2",
    "mmengine",
    "mmcv-lite",
    "bentoml",
    "tensorrt",
    "matplotlib",
)

# TFLOP/s, dense. (name pattern, variant, {precision: peak}); first match wins, so specific names come first.
GPU_PEAKS: list[tuple[str, str, dict[str, float]]] = [
    (r"H100.*NVL", "H100 NVL", {"fp32": 60.0, "tf32": 417.5, "fp16": 835.0, "bf16": 835.0}),
    (r"H100.*PCIe", "H100 PCIe", {"fp32": 51.2, "tf32": 378.0, "fp16": 756.0, "bf16": 756.0}),
    (r"H100", "H100 SXM", {"fp32": 66.9, "tf32": 494.7, "fp16": 989.4, "bf16": 989.4}),
    (r"H200.*NVL", "H200 NVL", {"fp32": 60.0, "tf32": 417.5, "fp16": 835.0, "bf16": 835.0}),
    (r"H200", "H200 SXM", {"fp32": 66.9, "tf32": 494.7, "fp16": 989.4, "bf16": 989.4}),
    (r"A100", "A100", {"fp32": 19.5, "tf32": 156.0, "fp16": 312.0, "bf16": 312.0}),
    (r"L40S", "L40S", {"fp32": 91.6, "tf32": 183.0, "fp16": 362.0, "bf16": 362.0}),
    (r"\bL4\b", "L4", {"fp32": 30.3, "tf32": 60.0, "fp16": 121.0, "bf16": 121.0}),
    (r"\bA10\b", "A10", {"fp32": 31.2, "tf32": 62.5, "fp16": 125.0, "bf16": 125.0}),
    (r"V100", "V100", {"fp32": 15.7, "fp16": 125.0}),
    (r"\bT4\b", "T4", {"fp32": 8.1, "fp16": 65.0}),
]


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def _lscpu() -> dict[str, str]:
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in text.splitlines()) if v}


def _cpuinfo() -> dict[str, str]:
    try:
        text = open("/proc/cpuinfo").read()
    except OSError:
        return {}
    first = text.split("\n\n")[0]
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in first.splitlines()) if v}


def flops_per_cycle(flags: set[str]) -> tuple[int, str]:
    """fp32 FLOPs per cycle per core from the vector extensions (two pipes assumed)."""
    if "avx512f" in flags:
        return 64, "AVX-512 FMA (2 x 16 lanes x 2)"
    if "avx2" in flags and "fma" in flags:
        return 32, "AVX2 FMA (2 x 8 lanes x 2)"
    if "avx" in flags:
        return 16, "AVX (8-lane add + mul)"
    return 8, "SSE (4-lane add + mul)"


def cpu_info() -> dict[str, Any]:
    ls, ci = _lscpu(), _cpuinfo()
    flags = set((ls.get("Flags") or ci.get("flags") or "").split())
    logical = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    threads_per_core = int(ls.get("Thread(s) per core", "1") or 1)
    physical = int(ls.get("Core(s) per socket", "0") or 0) * int(ls.get("Socket(s)", "1") or 1)
    cores = max(1, min(physical or logical, -(-logical // threads_per_core)))
    mhz_text = ls.get("CPU max MHz") or ci.get("cpu MHz") or ""
    mhz = float(mhz_text.replace(",", ".")) if re.fullmatch(r"[\d.,]+", mhz_text) else None
    per_cycle, isa = flops_per_cycle(flags)
    info: dict[str, Any] = {
        "model": ls.get("Model name") or ci.get("model name") or platform.processor() or "unknown",
        "logical_cpus": logical,
        "cores": cores,
        "mhz": mhz,
        "mhz_source": "lscpu max" if ls.get("CPU max MHz") else "/proc/cpuinfo current",
        "isa": isa,
        "flops_per_cycle_fp32": per_cycle,
    }
    if mhz:
        info["peak_fp32_gflops_estimate"] = round(cores * mhz / 1000 * per_cycle, 1)
        info["peak_note"] = (
            f"estimate: {cores} cores x {mhz / 1000:.2f} GHz x {per_cycle} FLOPs/cycle "
            f"({isa}); not a measured or vendor figure"
        )
    return info


def gpu_peak(name: str) -> tuple[str, dict[str, float]] | None:
    for pattern, variant, peaks in GPU_PEAKS:
        if re.search(pattern, name, flags=re.IGNORECASE):
            return variant, peaks
    return None


def gpu_info() -> dict[str, Any] | None:
    import torch

    if not torch.cuda.is_available():
        return None
    name = torch.cuda.get_device_name(0)
    info: dict[str, Any] = {
        "name": name,
        "cuda": torch.version.cuda,
        "count": torch.cuda.device_count(),
        "memory_gib": round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1),
        "cudnn": torch.backends.cudnn.version(),
        "cudnn_allow_tf32": bool(torch.backends.cudnn.allow_tf32),
    }
    found = gpu_peak(name)
    if found:
        info["peak_variant"], peaks = found
        info["peak_tflops"] = peaks
        info["peak_note"] = f"datasheet dense peaks of the {found[0]} (TFLOP/s); the exact SKU was matched by name"
    return info


def peak_gflops(env: dict[str, Any], device: str, precision: str) -> tuple[float, str] | None:
    """(peak GFLOP/s, what it is) for a measurement, or None when unknown."""
    if device.startswith("cuda"):
        gpu = env.get("gpu") or {}
        peaks = gpu.get("peak_tflops")
        if not peaks:
            return None
        key = precision
        if precision == "fp32" and gpu.get("cudnn_allow_tf32") and "tf32" in peaks:
            key = "tf32"  # cuDNN convolutions run as TF32 on tensor cores unless switched off
        if key not in peaks:
            return None
        return peaks[key] * 1000, f"{gpu.get('peak_variant')} {key} dense (datasheet)"
    cpu = env.get("cpu") or {}
    if "peak_fp32_gflops_estimate" not in cpu:
        return None
    return cpu["peak_fp32_gflops_estimate"], "CPU fp32 estimate (cores x GHz x FLOPs/cycle)"


def environment() -> dict[str, Any]:
    import torch

    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": platform.node(),
        "platform": platform.platform(),
        "versions": versions(),
        "cpu": cpu_info(),
        "gpu": gpu_info(),
        "torch_threads": torch.get_num_threads(),
        "loadavg_start": [round(x, 2) for x in load] if load else None,
    }
