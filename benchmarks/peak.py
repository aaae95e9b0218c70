"""The peak FLOP/s a model's FLOP/s is compared with, measured in the same run: a large matrix product
(SGEMM on the CPU with torch's threads; on CUDA fp32 with TF32 off, TF32 and fp16), timed by the harness
in the same rounds as the forwards it is compared with.

A datasheet figure or a cores x GHz x FLOPs/cycle estimate says what the chip could do in theory; this
says what it did for a dense matmul under the same threads, clocks and load as the model beside it (on a
shared machine a peak timed a minute apart can be off by 3x).
"""

import contextlib
import statistics
from collections.abc import Iterator
from typing import Any

import torch

from .timing import Contender, interleave

DTYPES = {"fp32": torch.float32, "tf32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


@contextlib.contextmanager
def tf32(enabled: bool) -> Iterator[None]:
    """TF32 tensor cores on or off for matmuls and cuDNN convolutions, restored afterwards."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


class Sgemm:
    """``torch.mm`` of two ``size`` x ``size`` matrices on a device and precision, callable by the harness."""

    def __init__(self, device: str = "cpu", precision: str = "fp32", size: int | None = None) -> None:
        self.cuda = device.startswith("cuda")
        if precision not in DTYPES or (not self.cuda and precision != "fp32"):
            raise ValueError(f"no {precision} peak on {device}: the CPU is measured in fp32 only")
        n = size or (8192 if self.cuda else 2048)
        g = torch.Generator(device=device).manual_seed(0)
        self.a, self.b = (torch.randn(n, n, device=device, dtype=DTYPES[precision], generator=g) for _ in range(2))
        self.out, self.device, self.precision, self.flops = torch.empty_like(self.a), device, precision, 2 * n**3
        where = torch.cuda.get_device_name(device) if self.cuda else f"{torch.get_num_threads()} torch threads"
        self.method = f"torch.mm {n}x{n} {precision}, {where}"

    def __call__(self, _: Any = None) -> None:
        with tf32(self.precision == "tf32") if self.cuda else contextlib.nullcontext(), torch.inference_mode():
            torch.mm(self.a, self.b, out=self.out)
            if self.cuda:
                torch.cuda.synchronize(self.device)

    def result(self, samples_ms: list[float]) -> dict[str, Any]:
        """The peak from timed calls: GFLOP/s of the fastest (what the machine can do; other processes only
        ever slow a call down), with the median beside it."""
        gflops = round(self.flops / (min(samples_ms) / 1e3) / 1e9, 1)
        out = dict(device=self.device, precision=self.precision, gflops=gflops, method=self.method + ", fastest call")
        return out | {"median_ms": round(statistics.median(samples_ms), 3), "n": len(samples_ms)}


def measure_peak(device: str = "cpu", precision: str = "fp32", size: int | None = None, repeats: int = 5) -> dict:
    """The peak on its own: ``repeats`` timed calls after two warm-up calls."""
    sgemm = Sgemm(device, precision, size)
    return sgemm.result(interleave([Contender("mm", sgemm)], repeats, warmup=2).samples_ms["mm"])
