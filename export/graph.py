"""PCAN -> an ONNX graph: both inputs, per-branch probabilities, dynamic batch, the model's metadata inside.

Exporter: torch's TorchScript-based exporter (``dynamo=False``). It needs nothing beyond torch and onnx
(the dynamo exporter, torch's default since 2.9, needs onnxscript, which the project does not install),
it traces this model (convolutions, pooling, a small attention) into plain ONNX ops, and it folds
BatchNorm into the convolutions in eval mode. Whatever exporter, the file is only kept once ONNX Runtime
reproduces PyTorch on it (``onnx_export.export_verified_onnx``).
"""

import warnings
from pathlib import Path

import onnx
import torch

from pcan_serve.model import PCAN
from pcan_serve.model_io import METADATA_KEY, ModelMeta, read_onnx_meta

from .verify import random_case
from .wrapper import BRANCHES, ProbabilityModel

ONNX_INPUTS = ("imgs", "heatmaps")
ONNX_OUTPUTS = BRANCHES
TRACE_BATCH = 2  # neither 1 nor a verified size, so a batch size baked in by mistake is caught
BACKBONE_SCOPE = "/model/backbone/"  # node names the TorchScript exporter gives ProbabilityModel.model.backbone


def backbone_nodes(proto: onnx.ModelProto) -> list[str]:
    """The backbone's nodes (what fp16 and int8 convert); a graph without any (another exporter's names) cannot
    be converted safely."""
    names = [n.name for n in proto.graph.node if n.name.startswith(BACKBONE_SCOPE)]
    if not names:
        raise ValueError(f"no node is named {BACKBONE_SCOPE}...: not a graph written by `pcan export onnx`")
    return names


def attach_meta(path: str | Path, meta: ModelMeta, precision_note: str = "") -> None:
    """Write ``meta`` into the file's metadata_props (what serving reads) and a one-line description."""
    proto = onnx.load(str(path))
    del proto.metadata_props[:]
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, meta.to_json()
    proto.producer_name = "pcan"
    scaled = "temperature-scaled " if meta.calibrated else ""
    note = f"; {precision_note}" if precision_note else ""
    proto.doc_string = (
        f"PCAN {meta.config.name}: inputs imgs/heatmaps, outputs {scaled}softmax probabilities "
        f"{', '.join(ONNX_OUTPUTS)} (fused head trained: {meta.fused_head}){note}"
    )
    onnx.save(proto, str(path))


def trace_onnx(model: PCAN, meta: ModelMeta, output: str | Path, opset: int) -> Path:
    """Trace ``model`` (CPU, fp32) to ``output``, attach ``meta``, and run the ONNX checker on the file."""
    output = Path(output)
    wrapped = ProbabilityModel(model.cpu().float(), meta.temperatures).eval()
    example = random_case(meta.config, TRACE_BATCH)
    axes = {name: {0: "batch"} for name in (*ONNX_INPUTS, *ONNX_OUTPUTS)}
    with warnings.catch_warnings(), torch.no_grad():
        # the TorchScript exporter's deprecation notice and tracer notes about Python scalars (head width)
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapped,
            (torch.from_numpy(example.imgs), torch.from_numpy(example.heatmaps)),
            str(output),
            dynamo=False,
            input_names=list(ONNX_INPUTS),
            output_names=list(ONNX_OUTPUTS),
            dynamic_axes=axes,
            opset_version=opset,
            do_constant_folding=True,
        )
    attach_meta(output, meta)
    onnx.checker.check_model(str(output), full_check=True)
    if read_onnx_meta(output) != meta:
        raise RuntimeError(f"metadata read back from {output.name} differs from the metadata written")
    return output
