"""The one model description (ModelMeta): written into every artefact, read back by one reader, required
fields named when missing; untrained weights are seeded; the top-level API imports lazily."""

import json
import subprocess
import sys
from dataclasses import replace

import numpy as np
import onnx
import pytest
import torch
from typer.testing import CliRunner

from export import OnnxExportOptions, export_verified_onnx
from export.options import FP16_TOLERANCE
from pcan_serve import load_model, save_checkpoint
from pcan_serve.cli import app as pcan
from pcan_serve.errors import BackendUnavailable, CheckpointError, InvalidRequest
from pcan_serve.model import build_pcan, preset_config
from pcan_serve.model_io import METADATA_KEY, ModelMeta, backend_of, read_meta, tensorrt_sidecar
from pcan_serve.runtime import Frontend, Predictor, Prepared, TorchBackend


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory, tiny_ckpt):
    out = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    export_verified_onnx(OnnxExportOptions(checkpoint=tiny_ckpt, output=out, verify=False, fusion_weights=(3.0, 1.0)))
    return out


def _rewrite_onnx_meta(src, dst, edit):
    proto = onnx.load(str(src))
    entry = next(p for p in proto.metadata_props if p.key == METADATA_KEY)
    data = json.loads(entry.value)
    edit(data)
    entry.value = json.dumps(data)
    onnx.save(proto, str(dst))
    return dst


def test_same_description_in_checkpoint_onnx_and_sidecar(tiny_ckpt, tiny_onnx, tmp_path):
    described = ModelMeta(preset_config("tiny"), fused_head=True, calibration={"temperature": {"rgb": 1.5}})
    ckpt = save_checkpoint(build_pcan("tiny"), tmp_path / "c.pth", description=described)
    assert read_meta(ckpt) == described
    onnx_meta = read_meta(tiny_onnx)
    assert onnx_meta == replace(read_meta(tiny_ckpt), fusion_weights=(3.0, 1.0))
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"not read")
    tensorrt_sidecar(engine).write_text(onnx_meta.to_json())
    assert read_meta(engine) == onnx_meta


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda d: d.pop("config"), "'config'"),
        (lambda d: d["config"].pop("class_names"), "'config.class_names'"),
        (lambda d: d["config"].pop("preprocess"), "'config.preprocess'"),
    ],
)
def test_onnx_without_a_required_field_names_it(tiny_onnx, tmp_path, edit, field):
    bad = _rewrite_onnx_meta(tiny_onnx, tmp_path / "bad.onnx", edit)
    with pytest.raises(CheckpointError, match=f"bad.onnx: pcan metadata lacks the required field {field}"):
        read_meta(bad)
    with pytest.raises(CheckpointError, match=field):
        Predictor.from_path(bad, device="cpu")


def test_optional_fields_take_their_defaults(tiny_onnx, tmp_path):
    def strip(d):
        for key in ("fusion_weights", "calibration", "quantization", "weights", "fused_head"):
            d.pop(key)

    meta = read_meta(_rewrite_onnx_meta(tiny_onnx, tmp_path / "lean.onnx", strip))
    assert (meta.fusion_weights, meta.calibration, meta.quantization) == ((1.0, 1.0), None, None)
    assert meta.weights == "trained" and meta.fused_head


def test_checkpoint_description_errors_and_legacy_key(tmp_path):
    state = build_pcan("tiny").state_dict()
    torch.save({"state_dict": state, "meta": {"pcan": {"format_version": 1}}}, tmp_path / "noconfig.pth")
    with pytest.raises(CheckpointError, match="noconfig.pth: pcan metadata lacks the required field 'config'"):
        load_model(tmp_path / "noconfig.pth")
    torch.save({"state_dict": state, "meta": {"pcan": {"format_version": 9}}}, tmp_path / "future.pth")
    with pytest.raises(CheckpointError, match="format_version 9"):
        load_model(tmp_path / "future.pth")
    legacy = {"format_version": 1, "config": preset_config("tiny").to_dict(), "fused_head_trained": False}
    torch.save({"state_dict": state, "meta": {"pcan": legacy}}, tmp_path / "legacy.pth")
    _, info = load_model(tmp_path / "legacy.pth")
    assert info.kind == "pcan" and not info.fused_head


def test_backend_of_is_the_one_suffix_rule():
    assert [backend_of(p) for p in ("a.onnx", "a.ONNX", "a.engine", "a.plan", "a.trt", "a.pth", "a.pt")] == [
        "onnxruntime", "onnxruntime", "tensorrt", "tensorrt", "tensorrt", "torch", "torch"
    ]  # fmt: skip


def test_untrained_weights_are_the_same_in_every_process(sample_video, sample_skeleton):
    code = (
        "import json, sys; from pcan_serve import Predictor; "
        "p = Predictor.from_path(None, preset='tiny', device='cpu'); "
        "r = p.predict(sys.argv[1], sys.argv[2], top_k=3).to_dict(); "
        "print(json.dumps([r['top_k'], r['branches']]))"
    )
    runs = [
        subprocess.run([sys.executable, "-c", code, str(sample_video), str(sample_skeleton)], capture_output=True,
                       text=True, timeout=300, check=True).stdout
        for _ in range(2)
    ]  # fmt: skip
    torch.manual_seed(1234)  # the global RNG state must not matter
    here = (
        Predictor.from_path(None, preset="tiny", device="cpu").predict(sample_video, sample_skeleton, top_k=3).to_dict()
    )
    assert runs[0] == runs[1]
    assert json.loads(runs[0]) == json.loads(json.dumps([here["top_k"], here["branches"]]))


def test_frontend_needs_no_backend_and_matches_the_predictor(tiny_ckpt, sample_video, sample_skeleton):
    predictor = Predictor.from_path(tiny_ckpt, device="cpu")
    frontend = Frontend(read_meta(tiny_ckpt), "torch")
    item = frontend.prepare(sample_video, sample_skeleton, num_clips=2, name="x")
    probs = predictor.infer([item])[0]
    ours = frontend.format(item, probs, top_k=4).to_dict()
    ref = predictor.predict(sample_video, sample_skeleton, top_k=4, num_clips=2, name="x").to_dict()
    assert ours["top_k"] == ref["top_k"] and ours["branches"] == ref["branches"] and ours["model"] == ref["model"]


def test_infer_holds_one_chunk_at_a_time_and_averages_per_item(tiny_ckpt):
    backend = TorchBackend(tiny_ckpt, device="cpu")
    seen = []
    run = backend.run
    backend.run = lambda imgs, hm: seen.append(len(imgs)) or run(imgs, hm)
    predictor = Predictor(backend, batch_size=4)
    g = np.random.default_rng(0)
    items = [_item(g, n) for n in (3, 5, 2)]
    results = predictor.infer(items)
    assert seen == [4, 4, 2]
    for item, result in zip(items, results, strict=True):
        alone = {k: v.mean(axis=0) for k, v in run(item.imgs, item.heatmaps).items()}
        for k in alone:
            np.testing.assert_allclose(result[k], alone[k], atol=1e-6)


def _item(g, clips):
    return Prepared(
        f"{clips} clips",
        g.standard_normal((clips, 3, 8, 64, 64), dtype=np.float32),
        g.random((clips, 17, 32, 16, 16), dtype=np.float32),
    )


def test_top_level_api_imports_lazily():
    code = (
        "import sys; from pcan_serve import load_model; "
        "assert 'onnxruntime' not in sys.modules and 'av' not in sys.modules, 'eager import'; "
        "from pcan_serve import Predictor, ModelMeta; print(Predictor.__name__, ModelMeta.__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["Predictor", "ModelMeta"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without a GPU")
@pytest.mark.parametrize("device", ["cuda", "cuda:0", "cuda:1"])
def test_a_gpu_device_without_cuda_is_refused_not_run_on_the_cpu(tiny_ckpt, tiny_onnx, device):
    for model in (tiny_ckpt, tiny_onnx):
        with pytest.raises(BackendUnavailable, match=f"device {device} was asked for"):
            Predictor.from_path(model, device=device)
    result = CliRunner().invoke(pcan, ["predict", "x.avi", "--checkpoint", str(tiny_ckpt), "--device", device])
    assert result.exit_code == 2 and f"device {device} was asked for" in result.output


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_gpu_that_is_there_answers_like_the_cpu_and_one_that_is_not_is_refused(
    tiny_ckpt, sample_video, sample_skeleton
):
    gpu = Predictor.from_path(tiny_ckpt, device="cuda:0")
    assert next(gpu.backend.model.parameters()).device == torch.device("cuda", 0)
    every = len(gpu.backend.meta.class_names)
    cpu = Predictor.from_path(tiny_ckpt, device="cpu").predict(sample_video, sample_skeleton, top_k=every)
    answer = gpu.predict(sample_video, sample_skeleton, top_k=every)
    assert answer.prediction.name == cpu.prediction.name  # fp16-autocast backbone, fp32 head: within 1e-2
    for branch in ("rgb", "pose"):
        ours = {s.name: s.score for s in answer.branches[branch].top_k}
        assert all(abs(ours[s.name] - s.score) < FP16_TOLERANCE for s in cpu.branches[branch].top_k)
    missing = f"cuda:{torch.cuda.device_count()}"
    result = CliRunner().invoke(pcan, ["predict", "x.avi", "--checkpoint", str(tiny_ckpt), "--device", missing])
    assert result.exit_code == 2 and f"torch sees {torch.cuda.device_count()} GPU(s)" in result.output


def test_an_unknown_device_name_is_a_usage_error(tiny_ckpt):
    with pytest.raises(InvalidRequest, match="unknown device 'gpu'"):
        Predictor.from_path(tiny_ckpt, device="gpu")
