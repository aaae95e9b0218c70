"""Export checks that need an NVIDIA GPU; run through ``bash export/gpu_check.sh`` on a CUDA machine.

1. The full model (randomised weights, export.synthetic) is exported and verified on CPU as usual.
2. PyTorch on CUDA is compared with the fp64 CPU reference: fp32 with TF32 off (tolerance 1e-4) and the
   serving path TorchBackend uses on CUDA, fp16-autocast backbone with an fp32 head
   (tolerance 1e-2: the bound of a TensorRT fp16 build).
3. TensorRT: where it imports, fp32 and fp16 engines are built and verified against ONNX Runtime;
   where it does not, ``pcan export tensorrt`` must exit 2 with the install hint.
Writes ``gpu_check.json`` (and prints the tables) into --out; exits 1 if any check failed.
Numbers only: GPU timings come from the benchmarks' one harness, ``pcan bench --device cuda``.
"""

import json
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import torch
import typer
from rich.console import Console

from pcan_serve import load_model, save_checkpoint
from pcan_serve.model import build_pcan

from .onnx_export import export_verified_onnx
from .synthetic import randomise_weights
from .verify import FP16_TOLERANCE, FP32_TOLERANCE, default_sample, run_verification, standard_cases, torch_runner

app = typer.Typer(add_completion=False)
console = Console()


def _torch_cuda_runner(model: torch.nn.Module, fp16: bool):
    from pcan_serve.runtime.precision import mixed_precision_logits

    model = model.cuda().eval()

    @torch.inference_mode()
    def run(imgs: np.ndarray, heatmaps: np.ndarray) -> dict[str, np.ndarray]:
        x, h = torch.from_numpy(imgs).cuda(), torch.from_numpy(heatmaps).cuda()
        logits = mixed_precision_logits(model, x, h, torch.float16 if fp16 else None)  # as TorchBackend serves
        return {b: torch.softmax(v.float(), 1).cpu().numpy() for b, v in logits.items()}

    return run


@app.command()
def main(out: Annotated[Path, typer.Option()], preset: Annotated[str, typer.Option()] = "ntu60") -> None:
    if not torch.cuda.is_available():
        console.print("[red]no CUDA GPU visible to torch: run this on the GPU machine[/red]")
        raise typer.Exit(2)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    out.mkdir(parents=True, exist_ok=True)
    import onnxruntime as ort

    results: dict[str, Any] = {
        "torch": torch.__version__,
        "gpu": torch.cuda.get_device_name(0),
        "onnxruntime": ort.__version__,
        "ort_providers": ort.get_available_providers(),
    }
    ok = True
    ckpt = save_checkpoint(randomise_weights(build_pcan(preset)), out / f"{preset}_random.pth")
    onnx_path = out / f"{preset}.onnx"
    exported = export_verified_onnx(ckpt, onnx_path, console=console)
    results["onnx"] = {
        "export_seconds": round(exported.export_seconds, 2),
        "bytes": exported.size_bytes,
        "cpu_max_abs_diff": exported.report.max_abs_diff,
    }
    model, info = load_model(ckpt)
    notes: list[str] = []
    cases = standard_cases(info.config, (1, 4), default_sample(), notes)
    reference = torch_runner(model)  # fp64 on CPU, before the model moves to the GPU
    for label, fp16, tol in (("fp32", False, FP32_TOLERANCE), ("fp16-autocast", True, FP16_TOLERANCE)):
        run = _torch_cuda_runner(model, fp16)
        report = run_verification(reference, run, cases, tol, "PyTorch (CPU, fp64)", f"PyTorch CUDA {label}")
        report.notes += notes
        report.print(console)
        ok &= report.ok
        results[f"torch_cuda_{label}"] = {"max_abs_diff": report.max_abs_diff, "ok": report.ok}
    results["tensorrt"] = _tensorrt(onnx_path, out)
    ok &= results["tensorrt"]["ok"]
    results["ok"] = bool(ok)
    (out / "gpu_check.json").write_text(json.dumps(results, indent=2))
    onnx_path.unlink(missing_ok=True)
    ckpt.unlink(missing_ok=True)
    console.print_json(json.dumps(results))
    raise typer.Exit(0 if ok else 1)


def _tensorrt(onnx_path: Path, out: Path) -> dict[str, Any]:
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "export.cli",
                "tensorrt",
                "--onnx",
                str(onnx_path),
                "--output",
                str(out / "x.engine"),
            ],
            capture_output=True,
            text=True,
        )
        text = proc.stdout + proc.stderr
        ok = proc.returncode == 2 and "pypi.nvidia.com" in text
        console.print(f"TensorRT not installed: `pcan export tensorrt` exit {proc.returncode}: {text.strip()}")
        return {"available": False, "cli_exit": proc.returncode, "message": text.strip(), "ok": ok}
    from .tensorrt_export import export_verified_engine

    results: dict[str, Any] = {"available": True, "ok": True}
    for fp16 in (False, True):
        engine = out / f"model_{'fp16' if fp16 else 'fp32'}.engine"
        try:
            res = export_verified_engine(
                onnx_path, engine, fp16=fp16, min_batch=1, opt_batch=4, max_batch=8, console=console
            )
            results[engine.stem] = {
                "build_seconds": round(res.build_seconds, 1),
                "bytes": res.size_bytes,
                "max_abs_diff": res.report.max_abs_diff,
            }
        except Exception as exc:  # record and go on to the other precision
            results[engine.stem] = {"error": f"{type(exc).__name__}: {exc}"}
            results["ok"] = False
        engine.unlink(missing_ok=True)
    return results


if __name__ == "__main__":
    app()
