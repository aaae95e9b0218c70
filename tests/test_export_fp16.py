"""`pcan export onnx --fp16`: the backbone in fp16 and the head in fp32 (the torch backend's CUDA policy), inputs and
outputs fp32, verified against PyTorch fp64 at 1e-2. Here on the CPU provider, which computes fp16 nodes in fp32 on
the fp16 weights: the graph and its weight rounding are checked, the CUDA provider's fp16 arithmetic is not."""

from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto
from typer.testing import CliRunner

from export.graph import BACKBONE_SCOPE
from export.verify import random_case
from pcan_serve.cli import app as pcan
from pcan_serve.model_io import read_meta
from pcan_serve.runtime import OnnxRuntimeBackend, TorchBackend

runner = CliRunner()


@pytest.fixture(scope="module")
def fp16_file(peaked_ckpt, tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("fp16") / "model.fp16.onnx"
    res = runner.invoke(pcan, ["export", "onnx", "--checkpoint", str(peaked_ckpt), "--output", str(out), "--fp16"])
    assert res.exit_code == 0, res.output
    return out, res.output


def test_verified_at_the_fp16_tolerance_and_says_fp16(fp16_file):
    path, log = fp16_file
    assert "fp16 backbone" in log and "1e-02" in log and "FAIL" not in log
    assert read_meta(path).quantization == "fp16"
    assert "backbone fp16, head fp32" in onnx.load(str(path)).doc_string


def test_backbone_fp16_head_fp32_io_fp32(fp16_file):
    path, _ = fp16_file
    proto = onnx.shape_inference.infer_shapes(onnx.load(str(path)), strict_mode=True)
    types = {v.name: v.type.tensor_type.elem_type for v in (*proto.graph.value_info, *proto.graph.input)}
    types |= {i.name: i.data_type for i in proto.graph.initializer}
    assert all(v.type.tensor_type.elem_type == TensorProto.FLOAT for v in (*proto.graph.input, *proto.graph.output))
    nodes = proto.graph.node
    convs = [n for n in nodes if n.op_type == "Conv"]
    assert convs and all(types[n.input[1]] == TensorProto.FLOAT16 for n in convs)
    head = [n for n in nodes if not n.name.startswith(BACKBONE_SCOPE) and n.op_type != "Cast"]
    read = [types[i] for n in head for i in n.input if i in types]
    assert read and TensorProto.FLOAT16 not in read  # no head tensor is rounded to fp16 between its nodes
    casts = Counter(n.attribute[0].i for n in nodes if n.op_type == "Cast")
    assert casts[TensorProto.FLOAT16] == 2  # imgs and heatmaps, once each
    assert casts[TensorProto.FLOAT] == 2  # the two backbone outputs, once each however many head nodes read them


def test_served_probabilities_match_fp32_torch(fp16_file, peaked_ckpt):
    path, _ = fp16_file
    fp16, ref = OnnxRuntimeBackend(path), TorchBackend(peaked_ckpt)
    case = random_case(ref.meta.config, 3, seed=7)
    got, want = fp16.run(case.imgs, case.heatmaps), ref.run(case.imgs, case.heatmaps)
    for k in want:
        assert np.abs(got[k] - want[k]).max() <= 1e-2
        assert (got[k].argmax(1) == want[k].argmax(1)).all()
    assert want["rgb"].max() > 0.2  # far from uniform: the comparison means something
