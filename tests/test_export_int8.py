"""`pcan export onnx --quantize int8`: calibrated on real clips of a manifest, the file says int8, ONNX Runtime runs
its 3-D convolutions as QLinearConv on the CPU, and on the synthetic validation set trained by `pcan train` it
answers as the fp32 export does (top-1 on at least 31 of 32 videos, accuracy within one video). Speed is measured by
`pcan bench` (onnxruntime-int8), not here."""

import csv
import json
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from typer.testing import CliRunner

from export.agreement import measure_agreement
from export.quant_data import spread
from export.verify import Case, VerificationFailed
from pcan_serve.cli import app as pcan
from pcan_serve.errors import BackendUnavailable
from pcan_serve.model_io import read_meta
from pcan_serve.model_io.onnx_session import ort_cuda_usable
from pcan_serve.runtime import OnnxRuntimeBackend

runner = CliRunner()


def _export(*args: str) -> str:
    res = runner.invoke(pcan, ["export", "onnx", *args])
    assert res.exit_code == 0, res.output
    return res.output


@pytest.fixture(scope="module")
def exported(trained, synth_set, tmp_path_factory) -> tuple[Path, Path, str]:
    """fp32 and int8 exports of the model `pcan train` wrote to serve; int8 calibrated on the train split."""
    work_dir, _ = trained
    model, out = work_dir / "calibrated.pth", tmp_path_factory.mktemp("int8")
    fp32, int8 = out / "model.onnx", out / "model.int8.onnx"
    _export("--checkpoint", str(model), "--output", str(fp32), "--no-verify")  # the int8 export verifies its own
    quant = ["--quantize", "int8", "--quant-data", str(synth_set.root / "manifest_train.csv")]
    log = _export("--checkpoint", str(model), "--output", str(int8), *quant)
    return fp32, int8, log


def _predict(model: Path, manifest: Path, out: Path) -> list[dict]:
    args = ["predict", "--manifest", str(manifest), "--onnx", str(model), "--top-k", "4", "-o", str(out)]
    res = runner.invoke(pcan, [*args, "--device", "cpu", "--no-progress"])
    assert res.exit_code == 0, res.output
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_int8_answers_as_fp32_on_the_synthetic_val_set(exported, synth_set, tmp_path):
    """Calibrated on the train split, judged on the 32 val videos through `pcan predict --onnx` (unchanged)."""
    fp32, int8, _ = exported
    manifest = synth_set.root / "manifest_val.csv"
    labels = [int(row["label"]) for row in csv.DictReader(manifest.open())]
    a, b = _predict(fp32, manifest, tmp_path / "fp32.jsonl"), _predict(int8, manifest, tmp_path / "int8.jsonl")
    assert len(a) == len(b) == len(labels) == 32 and all(r["ok"] for r in a + b)
    top1 = {name: np.array([r["prediction"]["label"] for r in rows]) for name, rows in (("fp32", a), ("int8", b))}
    equal = int((top1["fp32"] == top1["int8"]).sum())
    correct = {name: int((t == labels).sum()) for name, t in top1.items()}

    def top(row: dict, branch: str) -> int:
        return row["branches"][branch]["top_k"][0]["label"]

    branches = {br: sum(top(x, br) == top(y, br) for x, y in zip(a, b, strict=True)) for br in ("rgb", "pose", "fused")}
    scores = [abs(x["prediction"]["score"] - y["prediction"]["score"]) for x, y in zip(a, b, strict=True)]
    print(
        f"\nint8 vs fp32 on 32 val videos: top-1 equal {equal}/32 (branches {branches}), correct fp32 "
        f"{correct['fp32']}/32, int8 {correct['int8']}/32, max |Δ score| of the prediction {max(scores):.2e}"
    )
    assert equal >= 31
    assert abs(correct["fp32"] - correct["int8"]) <= 1
    assert correct["fp32"] >= 24  # a model that learned the set: agreement between two random guessers means nothing
    assert b[0]["model"]["backend"] == "onnxruntime" and b[0]["fusion"] == a[0]["fusion"]


def test_file_says_int8_and_keeps_the_head_fp32(exported):
    fp32, int8, log = exported
    meta = read_meta(int8)
    assert meta.quantization == "int8" and read_meta(fp32).quantization is None
    assert meta.calibrated and meta == replace(read_meta(fp32), quantization="int8")
    assert "int8" in log and "top-1 equal" in log  # the agreement table was printed
    proto = onnx.load(str(int8))
    assert "static int8" in proto.doc_string
    inits = {i.name: i for i in proto.graph.initializer}
    int8_weights = [i for i in proto.graph.initializer if i.data_type == onnx.TensorProto.INT8]
    assert len(int8_weights) >= 30  # every backbone convolution's weights (tiny preset: 32 convolutions)
    head = [n for n in proto.graph.node if n.name.startswith("/model/cls_head/")]
    assert head and not any(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in head)
    gemm_weights = [inits[n.input[1]] for n in head if n.op_type == "Gemm" and n.input[1] in inits]
    assert gemm_weights and all(w.data_type == onnx.TensorProto.FLOAT for w in gemm_weights)
    assert fp32.stat().st_size > 1.8 * int8.stat().st_size


def test_onnxruntime_runs_3d_qlinearconv_on_this_cpu(exported, tmp_path):
    """QDQ is fused into QLinearConv (3-D) when the session is built: the int8 kernels, not fp32 ones, run."""
    fp32, int8, _ = exported
    convs = sum(n.op_type == "Conv" for n in onnx.load(str(fp32)).graph.node)
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED  # the layout-neutral fusions
    opts.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    ort.InferenceSession(str(int8), opts, providers=["CPUExecutionProvider"])
    optimized = onnx.load(opts.optimized_model_filepath)
    ops = Counter(n.op_type for n in optimized.graph.node)
    inits = {i.name: i for i in optimized.graph.initializer}
    qconv = [n for n in optimized.graph.node if n.op_type == "QLinearConv"]
    assert ops["QLinearConv"] == convs >= 30 and ops["Conv"] == 0, ops  # every convolution (not ConvTranspose)
    assert all(len(inits[n.input[3]].dims) == 5 for n in qconv)  # 3-D kernels: [out, in, t, h, w]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_int8_file_is_served_on_the_cpu_even_when_cuda_is_asked_for(exported):
    fp32, int8, _ = exported
    assert OnnxRuntimeBackend(int8, device="cuda").device == "cpu"  # ORT has no CUDA QLinearConv
    if ort_cuda_usable():
        assert OnnxRuntimeBackend(fp32, device="cuda:0").device == "cuda:0"
    else:  # an fp32 file asked onto a GPU that ORT cannot use is refused, never run on the CPU unsaid
        with pytest.raises(BackendUnavailable, match="no usable CUDA provider"):
            OnnxRuntimeBackend(fp32, device="cuda:0")


def _answers(*outputs: dict[str, np.ndarray]):
    """A runtime that returns ``outputs`` in turn, one per clip."""
    it = iter(outputs)
    return lambda imgs, heatmaps: next(it)


def test_agreement_counts_top1_per_output_and_fails_below_the_share():
    rng = np.random.default_rng(0)
    ref = {k: rng.dirichlet(np.ones(5), size=1) for k in ("rgb", "pose")}
    flipped = {k: v[:, ::-1].copy() for k, v in ref.items()}  # another top-1 in every output
    cases = [Case(str(i), np.zeros((1, 1)), np.zeros((1, 1))) for i in range(4)]

    def report(min_rate: float):
        reference, candidate = _answers(*[ref] * 4), _answers(ref, ref, ref, flipped)
        return measure_agreement(reference, candidate, cases, ("rgb", "pose"), (1.0, 1.0), ("fp32", "int8"), min_rate)

    loose = report(0.75)
    assert [(r.output, r.clips, r.top1_equal) for r in loose.rows] == [("rgb", 4, 3), ("pose", 4, 3), ("late", 4, 3)]
    assert loose.ok and loose.max_abs_diff > 0
    with pytest.raises(VerificationFailed, match="3 of 4"):
        report(0.8).raise_for_failure()


def test_calibration_videos_are_spread_over_the_manifest():
    assert spread(128, 4) == [0, 42, 85, 127]  # a class-sorted manifest: every class, not the first one only
    assert spread(3, 32) == [0, 1, 2]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--quantize", "int8"], "needs a manifest"),
        (["--quantize", "int4", "--quant-data", "m.csv"], "'int4' is not one of"),
        (["--fp16", "--quantize", "int8", "--quant-data", "m.csv"], "choose one"),
        (["--quant-data", "m.csv"], "only used by the int8 export"),
        (["--quantize", "int8", "--quant-data", "missing.csv"], "manifest not found: missing.csv"),
        (["--quantize", "int8", "--quant-data", "m.csv", "--min-agreement", "1.5"], "(0, 1], got 1.5"),
    ],
)
def test_precision_usage_errors_exit_2(tmp_path, monkeypatch, args, words):
    monkeypatch.chdir(tmp_path)
    Path("m.csv").write_text("video,skeleton\n")
    res = runner.invoke(
        pcan, ["export", "onnx", "--checkpoint", "none", "--preset", "tiny", "--output", "x.onnx", *args]
    )
    assert res.exit_code == 2, res.output
    assert words in res.output and not Path("x.onnx").exists()


@pytest.mark.parametrize(
    ("video", "code", "words"),
    [(None, 2, "not found"), (b"\0garbage" * 400, 1, "nope.avi")],  # missing: cannot start; corrupt: failed
)
def test_a_calibration_video_that_cannot_be_read_fails_the_export(
    tmp_path, tiny_ckpt, sample_skeleton, video, code, words
):
    manifest = tmp_path / "m.csv"
    manifest.write_text("video,skeleton\nnope.avi,nope.json\n")
    if video is not None:
        (tmp_path / "nope.avi").write_bytes(video)
        (tmp_path / "nope.json").write_text(sample_skeleton.read_text())
    before = sorted(p.name for p in tmp_path.iterdir())
    out = tmp_path / "x.onnx"
    args = ["--checkpoint", str(tiny_ckpt), "--output", str(out), "--quantize", "int8", "--quant-data", str(manifest)]
    res = runner.invoke(pcan, ["export", "onnx", *args])
    assert res.exit_code == code, res.output
    assert words in res.output and "Traceback" not in res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no file, no temporary left behind
