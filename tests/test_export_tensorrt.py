"""TensorRT export: a clear message and exit 2 where TensorRT or a GPU is missing; where both exist,
engines (fp32 and fp16) that match ONNX Runtime and carry the model's metadata beside them."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from export import EngineExportOptions, export_verified_engine
from export.tensorrt_export import TENSORRT_INSTALL, require_tensorrt
from pcan_serve.cli import app
from pcan_serve.errors import BackendUnavailable
from pcan_serve.model_io import ModelMeta, read_meta, tensorrt_sidecar
from pcan_serve.runtime import Predictor

runner = CliRunner()
HAVE_TRT = importlib.util.find_spec("tensorrt") is not None
needs_trt = pytest.mark.skipif(
    not (HAVE_TRT and torch.cuda.is_available()),
    reason="needs TensorRT (pip install --extra-index-url https://pypi.nvidia.com tensorrt) and a CUDA GPU",
)


@pytest.fixture(scope="module")
def onnx_file(tiny_onnx) -> Path:
    return tiny_onnx.path


def test_missing_tensorrt_is_explained_and_exits_2(onnx_file, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # `import tensorrt` raises ImportError
    with pytest.raises(BackendUnavailable) as info:
        require_tensorrt()
    assert TENSORRT_INSTALL in str(info.value) and "--onnx" in str(info.value)
    out = tmp_path / "tiny.engine"
    res = runner.invoke(app, ["export", "tensorrt", "--onnx", str(onnx_file), "--output", str(out)])
    assert res.exit_code == 2, res.output
    assert "TensorRT is not installed" in res.output and "pypi.nvidia.com" in res.output
    assert not out.exists() and not tensorrt_sidecar(out).exists()


def test_tensorrt_without_gpu_exits_2(onnx_file, tmp_path, monkeypatch):
    """TensorRT importable (a stand-in module here) but torch sees no GPU."""
    fake = type(sys)("tensorrt")
    fake.__version__ = "10.0.0"
    monkeypatch.setitem(sys.modules, "tensorrt", fake)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    res = runner.invoke(app, ["export", "tensorrt", "--onnx", str(onnx_file), "--output", str(tmp_path / "x.engine")])
    assert res.exit_code == 2 and "no CUDA GPU" in res.output


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--min-batch", "4", "--opt-batch", "2"], "1 <= min <= opt <= max, got 4/2/8"),
        (["--onnx", "nothing.onnx"], "ONNX file not found"),
        (["--workspace-gib", "0"], "workspace"),
    ],
)
def test_tensorrt_usage_errors_exit_2(onnx_file, tmp_path, args, words):
    base = {"--onnx": str(onnx_file), "--output": str(tmp_path / "x.engine")}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    res = runner.invoke(app, ["export", "tensorrt", *[x for kv in base.items() for x in kv]])
    assert res.exit_code == 2 and words in res.output


@needs_trt
@pytest.mark.gpu
@pytest.mark.parametrize("fp16", [False, True])
def test_engine_matches_onnxruntime_and_carries_metadata(onnx_file, tmp_path, fp16, sample_video, sample_skeleton):
    out = tmp_path / f"tiny_{'fp16' if fp16 else 'fp32'}.engine"
    sample = (sample_video, sample_skeleton)
    options = EngineExportOptions(onnx=onnx_file, output=out, fp16=fp16, opt_batch=2, max_batch=4, sample=sample)
    result = export_verified_engine(options)
    assert out.exists() and result.report.ok
    assert result.report.max_abs_diff <= (1e-2 if fp16 else 1e-4)
    assert {c.batch for c in result.report.comparisons} == {1, 2, 4}
    assert ModelMeta.from_json(tensorrt_sidecar(out).read_text()) == read_meta(onnx_file)
    a = Predictor.from_path(out).predict(sample_video, sample_skeleton, top_k=3).to_dict()
    b = Predictor.from_path(onnx_file, device="cpu").predict(sample_video, sample_skeleton, top_k=3).to_dict()
    assert a["model"]["backend"] == "tensorrt" and a["prediction"]["label"] == b["prediction"]["label"]
    assert np.isclose(a["prediction"]["score"], b["prediction"]["score"], atol=1e-2 if fp16 else 1e-4)


@needs_trt
@pytest.mark.gpu
def test_engine_cli_writes_engine_and_sidecar(onnx_file, tmp_path):
    out = tmp_path / "cli.engine"
    res = runner.invoke(
        app,
        [
            "export",
            "tensorrt",
            "--onnx",
            str(onnx_file),
            "--output",
            str(out),
            "--max-batch",
            "2",
            "--opt-batch",
            "2",
            "--no-verify",
        ],
    )
    assert res.exit_code == 0, res.output
    assert out.exists() and tensorrt_sidecar(out).exists()
    assert not Path(str(out) + ".partial").exists()


def test_cases_are_tiled_up_to_the_profile_minimum():
    from export.verify import at_least, random_case
    from pcan_serve.model import preset_config

    case = random_case(preset_config("tiny"), 1)
    big = at_least(case, 3)
    assert big.batch == 3 and all((big.imgs[i] == case.imgs[0]).all() for i in range(3))
    assert at_least(big, 2) is big
