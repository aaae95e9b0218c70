"""ONNX export: the file is self-describing, has a dynamic batch, passes the checker, and reproduces
PyTorch in ONNX Runtime (random inputs and the real NTU clip); a disagreeing export leaves no file."""

import dataclasses
import json

import numpy as np
import onnx
import pytest
import torch
from typer.testing import CliRunner

from export import ONNX_INPUTS, ONNX_OUTPUTS, InvalidExportOptions, OnnxExportOptions, export_verified_onnx
from export.synthetic import randomise_weights
from export.verify import VerificationReport, compare_outputs, random_case
from pcan_serve import load_model, save_checkpoint
from pcan_serve.cli import app
from pcan_serve.model import build_pcan
from pcan_serve.model_io import read_meta
from pcan_serve.runtime import OnnxRuntimeBackend, Predictor, TorchBackend

runner = CliRunner()


def test_export_is_verified_on_random_and_real_inputs(tiny_onnx):
    path, report = tiny_onnx.path, tiny_onnx.report
    assert path.exists() and not path.with_name(path.name + ".partial").exists()
    assert report.ok and report.max_abs_diff <= 1e-4
    seen = {(c.case, c.batch) for c in report.comparisons}
    assert seen == {("random", 1), ("random", 4), ("sample", 1)}
    assert {c.output for c in report.comparisons} == set(ONNX_OUTPUTS)


def test_file_structure_checker_and_dynamic_batch(tiny_onnx):
    path, result = tiny_onnx.path, tiny_onnx
    onnx.checker.check_model(str(path), full_check=True)
    proto = onnx.load(str(path))
    assert proto.opset_import[0].version >= 17
    inputs = {i.name: i.type.tensor_type.shape.dim for i in proto.graph.input}
    assert list(inputs) == list(ONNX_INPUTS)
    assert [o.name for o in proto.graph.output] == list(ONNX_OUTPUTS)
    for name, shape in zip(ONNX_INPUTS, result.meta.config.input_shapes(1), strict=True):
        dims = inputs[name]
        assert dims[0].dim_param == "batch"  # symbolic, not a traced constant
        assert [d.dim_value for d in dims[1:]] == list(shape[1:])
    assert result.meta.config.preprocess.resize == 64 and list(shape[3:]) == [16, 16]


def test_metadata_round_trip(tiny_onnx, peaked_ckpt):
    path, result = tiny_onnx.path, tiny_onnx
    _, info = load_model(peaked_ckpt)
    expected = dataclasses.replace(info.description, fusion_weights=(2.0, 1.0))
    assert read_meta(path) == expected == result.meta
    assert OnnxRuntimeBackend(path).meta == expected  # what serving reads from the file
    assert expected.fused_head and expected.weights == "trained" and len(expected.config.class_names) == 60


@pytest.mark.parametrize("batch", [1, 3, 4])
def test_serving_backends_agree_at_any_batch(tiny_onnx, peaked_ckpt, batch):
    """The runtimes serving uses (not the exporter's own verifier) agree on batches never traced."""
    torch_be, ort_be = TorchBackend(peaked_ckpt), OnnxRuntimeBackend(tiny_onnx.path)
    case = random_case(torch_be.meta.config, batch, seed=100 + batch)
    ref, got = torch_be.run(case.imgs, case.heatmaps), ort_be.run(case.imgs, case.heatmaps)
    assert set(ref) == set(got) == {"rgb", "pose", "fused"}
    for k in ref:
        assert got[k].shape == (batch, 60)
        assert np.abs(ref[k] - got[k]).max() <= 1e-4
        assert (ref[k].argmax(1) == got[k].argmax(1)).all()
    assert ref["rgb"].max() > 0.2  # far from uniform (1/60): the comparison means something


def test_predictor_onnx_equals_checkpoint_on_ntu_sample(tiny_onnx, peaked_ckpt, sample_video, sample_skeleton):
    a = Predictor.from_path(tiny_onnx.path, device="cpu").predict(sample_video, sample_skeleton, top_k=5).to_dict()
    b = Predictor.from_path(peaked_ckpt, device="cpu", fusion_weights=(2.0, 1.0))
    b = b.predict(sample_video, sample_skeleton, top_k=5).to_dict()
    assert a["model"]["backend"] == "onnxruntime" and b["model"]["backend"] == "torch"
    assert a["fusion"] == b["fusion"] == "late_2:1"  # the fusion weights travelled in the file
    _assert_same_prediction(a, b)


def _assert_same_prediction(a: dict, b: dict) -> None:
    assert a["ok"] and b["ok"]
    assert a["prediction"]["label"] == b["prediction"]["label"]
    for key in ("top_k",):
        assert [d["label"] for d in a[key]] == [d["label"] for d in b[key]]
        assert np.allclose([d["score"] for d in a[key]], [d["score"] for d in b[key]], atol=1e-4, rtol=0)
    assert set(a["branches"]) == set(b["branches"])
    for branch in a["branches"]:
        sa, sb = a["branches"][branch]["top_k"], b["branches"][branch]["top_k"]
        assert [d["label"] for d in sa] == [d["label"] for d in sb]
        assert np.allclose([d["score"] for d in sa], [d["score"] for d in sb], atol=1e-4, rtol=0)


def test_pcan_predict_cli_onnx_equals_checkpoint(tiny_onnx, peaked_ckpt, sample_video, sample_skeleton, tmp_path):
    """The CLI's promise: `pcan predict --onnx` and `--checkpoint` give the same answer."""
    rows = []
    for flag, model in (("--onnx", tiny_onnx.path), ("--checkpoint", peaked_ckpt)):
        out = tmp_path / f"{flag.strip('-')}.jsonl"
        res = runner.invoke(
            app,
            [
                "predict",
                str(sample_video),
                "--skeleton",
                str(sample_skeleton),
                flag,
                str(model),
                "--device",
                "cpu",
                "--output",
                str(out),
                "--no-progress",
            ],
        )
        assert res.exit_code == 0, res.output
        [row] = [json.loads(line) for line in out.read_text().splitlines()]
        rows.append(row)
    onnx_row, ckpt_row = rows
    assert onnx_row["fusion"] == "late_2:1" and ckpt_row["fusion"] == "late_1:1"
    # same weights, same clip: the branches must agree; the late fusion differs only by its stored weights
    assert set(onnx_row["branches"]) == set(ckpt_row["branches"]) == {"rgb", "pose", "fused"}
    for branch in onnx_row["branches"]:
        sa, sb = onnx_row["branches"][branch]["top_k"], ckpt_row["branches"][branch]["top_k"]
        assert [d["label"] for d in sa] == [d["label"] for d in sb]
        assert np.allclose([d["score"] for d in sa], [d["score"] for d in sb], atol=1e-4, rtol=0)


def test_pcan_export_onnx_writes_untrained_weights(tmp_path):
    out = tmp_path / "m" / "untrained.onnx"
    out.parent.mkdir()  # a missing output folder is a usage error (exit 2), like in every pcan command
    args = ["--checkpoint", "none", "--preset", "tiny", "--output", str(out), "--opset", "18"]
    res = runner.invoke(app, ["export", "onnx", *args])
    assert res.exit_code == 0, res.output
    meta = read_meta(out)
    assert meta.weights == "untrained" and not meta.fused_head and meta.config.name == "tiny"
    assert onnx.load(str(out)).opset_import[0].version == 18
    be = OnnxRuntimeBackend(out)
    case = random_case(meta.config, 2)
    assert set(be.run(case.imgs, case.heatmaps)) == {"rgb", "pose"}  # untrained fused head is not served


def test_verification_failure_exits_1_and_leaves_no_file(peaked_ckpt, tmp_path, monkeypatch):
    """A runtime that drifts by 1e-3 (10x the fp32 tolerance) must fail the export, and an existing
    good file at --output must survive."""
    import onnxruntime as ort

    real_run = ort.InferenceSession.run

    def drifting_run(self, names, feeds, *args, **kwargs):
        return [v + np.float32(1e-3) for v in real_run(self, names, feeds, *args, **kwargs)]

    out = tmp_path / "model.onnx"
    out.write_bytes(b"previous good export")
    monkeypatch.setattr(ort.InferenceSession, "run", drifting_run)
    res = runner.invoke(app, ["export", "onnx", "--checkpoint", str(peaked_ckpt), "--output", str(out)])
    assert res.exit_code == 1
    assert "FAIL" in res.output and "was not written" in res.output
    assert out.read_bytes() == b"previous good export"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["--checkpoint", "missing.pth"], 2, "not found"),
        (["--checkpoint", "none", "--preset", "tiny", "--opset", "13"], 2, "opset"),
        (["--checkpoint", "none", "--preset", "huge"], 2, "unknown preset"),
        (["--checkpoint", "none", "--preset", "tiny", "--fusion-weights", "1-1"], 2, "RGB:POSE"),
    ],
)
def test_cli_errors_are_clear(tmp_path, args, code, words):
    out = tmp_path / "x.onnx"
    res = runner.invoke(app, ["export", "onnx", *args, "--output", str(out), "--no-verify"])
    assert res.exit_code == code, res.output
    assert words in res.output
    assert not out.exists()


def test_missing_output_folder_is_a_usage_error(tmp_path):
    out = tmp_path / "no" / "such" / "x.onnx"
    res = runner.invoke(app, ["export", "onnx", "--checkpoint", "none", "--preset", "tiny", "--output", str(out)])
    assert res.exit_code == 2 and "folder does not exist" in res.output
    assert not (tmp_path / "no").exists()


@pytest.mark.slow
def test_full_model_export_verified(tmp_path):
    """The ntu60 model (randomised BN/head): exported, checked, ORT == PyTorch at batch 1 and 4."""
    torch.manual_seed(0)
    ckpt = save_checkpoint(randomise_weights(build_pcan("ntu60")), tmp_path / "full.pth")
    out = tmp_path / "full.onnx"
    result = export_verified_onnx(OnnxExportOptions(checkpoint=ckpt, output=out, sample=None))
    onnx.checker.check_model(str(out), full_check=True)
    assert result.report.ok and result.report.max_abs_diff <= 1e-4
    assert {(c.case, c.batch) for c in result.report.comparisons} == {("random", 1), ("random", 4)}
    assert read_meta(out) == result.meta and result.meta.config.name == "ntu60"
    assert [
        d.dim_value for d in onnx.load(str(out), load_external_data=False).graph.input[0].type.tensor_type.shape.dim[1:]
    ] == [3, 8, 256, 256]


@pytest.mark.parametrize(
    ("options", "words"),
    [
        (dict(opset=13), "opset 13"),
        (dict(preset="huge"), "unknown preset 'huge'"),
        (dict(checkpoint="missing.pth"), "checkpoint not found: missing.pth"),
        (dict(fusion_weights=(-1.0, 1.0)), "non-negative"),
        (dict(fusion_weights="1-1"), "RGB:POSE"),
        (dict(tolerance=0.0), "tolerance"),
        (dict(precision="int8"), "manifest"),
        (dict(quant_data="m.csv"), "only used by the int8 export"),
        (dict(min_agreement=1.5), "(0, 1]"),
        (dict(verify_batches=(0,)), "batch sizes"),
        (dict(output="no/such/x.onnx"), "output folder does not exist"),
    ],
)
def test_options_refuse_what_cannot_work_before_any_work(tmp_path, monkeypatch, options, words):
    """Typed errors (exit 2 through the CLI's table) whose messages speak of the values, not of flags."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.csv").write_text("video,skeleton\n")
    with pytest.raises(InvalidExportOptions) as info:
        OnnxExportOptions(**{"output": "x.onnx", **options})
    assert words in str(info.value) and "--" not in str(info.value)


def test_comparison_fails_on_drift_nan_missing_output_and_shape():
    config = load_model(None, preset="tiny")[1].config
    case = random_case(config, 2)
    rng = np.random.default_rng(0)
    ref = {k: rng.dirichlet(np.ones(60), size=2).astype(np.float32) for k in ("rgb", "pose", "fused")}

    def check(candidate: dict) -> bool:
        report = VerificationReport("ref", "cand")
        report.comparisons = compare_outputs(ref, candidate, case, 1e-4)
        return report.ok

    assert check({k: v + 5e-5 for k, v in ref.items()})
    assert not check({k: v + 2e-4 for k, v in ref.items()})
    nan = dict(ref, fused=np.full_like(ref["fused"], np.nan))
    assert not check(nan)
    assert not check({"rgb": ref["rgb"]})  # pose missing
    assert check({"rgb": ref["rgb"], "pose": ref["pose"]})  # an untrained fused head is not served
    assert not check(dict(ref, rgb=ref["rgb"][:1]))
