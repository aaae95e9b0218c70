"""The full model on an NVIDIA GPU (what export/gpu_check.py ran by hand before): PyTorch on CUDA against the fp64
CPU reference, fp32 with TF32 off (1e-4) and the serving path (TorchBackend: fp16-autocast backbone, fp32 head,
1e-2); TensorRT fp32 and fp16 engines of the full ONNX export against ONNX Runtime where TensorRT is installed.
Numbers only: GPU timings come from ``pcan bench --device cuda``. Skipped without CUDA."""

import importlib.util

import numpy as np
import pytest
import torch

from export import EngineExportOptions, OnnxExportOptions, export_verified_engine, export_verified_onnx
from export.options import FP16_TOLERANCE, FP32_TOLERANCE
from export.synthetic import randomise_weights
from export.verify import run_verification, standard_cases, torch_runner
from pcan_serve import load_model, save_checkpoint
from pcan_serve.model import build_pcan
from pcan_serve.model.scores import calibrated_softmax
from pcan_serve.runtime import TorchBackend

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.slow,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]
needs_trt = pytest.mark.skipif(importlib.util.find_spec("tensorrt") is None, reason="needs TensorRT")


@pytest.fixture(scope="module")
def full_ckpt(tmp_path_factory):
    torch.manual_seed(0)
    return save_checkpoint(randomise_weights(build_pcan("ntu60")), tmp_path_factory.mktemp("gpu") / "ntu60.pth")


def _cuda_fp32(model):
    """PyTorch on CUDA in true fp32 (TF32 off for its own calls): the bound of an fp32 engine."""
    model = model.cuda().eval()

    @torch.inference_mode()
    def run(imgs: np.ndarray, heatmaps: np.ndarray) -> dict[str, np.ndarray]:
        tf32 = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
        try:
            logits = model(torch.from_numpy(imgs).cuda(), torch.from_numpy(heatmaps).cuda())
        finally:
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32
        return {b: calibrated_softmax(v).cpu().numpy() for b, v in logits.items()}

    return run


@pytest.mark.parametrize("serving", [False, True], ids=["fp32", "fp16-backbone"])
def test_torch_on_cuda_matches_the_fp64_reference(full_ckpt, serving, sample_video, sample_skeleton):
    model, info = load_model(full_ckpt)
    notes: list[str] = []
    cases = standard_cases(info.config, (1, 4), (sample_video, sample_skeleton), notes)
    reference = torch_runner(model)  # fp64 on the CPU, a copy: before the model moves to the GPU
    candidate = TorchBackend(full_ckpt, device="cuda").run if serving else _cuda_fp32(model)
    tolerance = FP16_TOLERANCE if serving else FP32_TOLERANCE
    report = run_verification(reference, candidate, cases, tolerance, "PyTorch (CPU, fp64)", "PyTorch CUDA")
    assert report.ok, report.summary()
    assert {(c.case, c.batch) for c in report.comparisons} == {("random", 1), ("random", 4), ("sample", 1)}


@pytest.fixture(scope="module")
def full_onnx(full_ckpt, tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu_onnx") / "ntu60.onnx"
    return export_verified_onnx(OnnxExportOptions(checkpoint=full_ckpt, output=out, sample=None)).path


@needs_trt
@pytest.mark.parametrize("fp16", [False, True], ids=["fp32", "fp16"])
def test_full_model_engines_match_onnxruntime(full_onnx, fp16, tmp_path):
    out = tmp_path / "ntu60.engine"
    result = export_verified_engine(EngineExportOptions(onnx=full_onnx, output=out, fp16=fp16, sample=None))
    assert out.is_file() and result.report.ok
    assert result.report.max_abs_diff <= (FP16_TOLERANCE if fp16 else FP32_TOLERANCE)
    assert {c.batch for c in result.report.comparisons} == {1, 4, 8}
