"""Full-model forward latency on CUDA (fp32 with TF32 off, fp32 with TF32, fp16 autocast) over batch sizes.

Run on a GPU machine: ``python -m benchmarks.cuda_forward [--batches 1,4,8] [--runs 20]``. Prints one JSON
record per measurement (median/p95 ms per batch, clips/s, achieved TFLOP/s from FlopCounterMode).
"""

import argparse
import json
import statistics

import torch
from torch.utils.flop_counter import FlopCounterMode

from pcan_serve.model import build_pcan


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", default="1,4,8")
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    model = build_pcan("ntu60").cuda().eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.randn(1, 3, 8, 256, 256, device="cuda"), torch.rand(1, 17, 32, 64, 64, device="cuda"))
    flops_per_clip = counter.get_total_flops()
    print(json.dumps({"device": torch.cuda.get_device_name(), "torch": torch.__version__,
                      "gflops_per_clip": round(flops_per_clip / 1e9, 2)}))
    for mode in ("fp32", "tf32", "fp16"):
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = mode == "tf32"
        for n in (int(b) for b in args.batches.split(",")):
            x = torch.randn(n, 3, 8, 256, 256, device="cuda")
            h = torch.rand(n, 17, 32, 64, 64, device="cuda")
            times = []
            with torch.inference_mode(), torch.autocast("cuda", torch.float16, enabled=mode == "fp16"):
                for i in range(args.runs + 3):
                    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                    start.record()
                    model(x, h)
                    end.record()
                    torch.cuda.synchronize()
                    if i >= 3:
                        times.append(start.elapsed_time(end))
            med = statistics.median(times)
            p95 = sorted(times)[int(0.95 * (len(times) - 1))]
            print(json.dumps({"mode": mode, "batch": n, "median_ms": round(med, 3), "p95_ms": round(p95, 3),
                              "clips_per_s": round(n / med * 1e3, 1),
                              "tflops": round(flops_per_clip * n / (med / 1e3) / 1e12, 2)}))


if __name__ == "__main__":
    main()
