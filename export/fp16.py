"""An fp16 ONNX model for ONNX Runtime's CUDA provider: the backbone in fp16, the head in fp32.

The same split as the torch backend on CUDA (``pcan_serve/runtime/precision.py`` says why the head stays fp32).
Converted here, not with ``onnxruntime.transformers.float16``: that converter makes every float tensor fp16 and
wraps each blocked node in Casts, so the head's own intermediate tensors would still be rounded to fp16 between
its nodes (and, where one fp16 tensor feeds two blocked nodes, it emits two Casts of the same name, which ONNX
Runtime refuses). Here the backbone's weights become fp16, one Cast brings each tensor that enters the backbone
to fp16 and one brings each that leaves it back to fp32; nothing else changes, and inputs and outputs stay fp32.
"""

from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from pcan_serve.model_io import ModelMeta, read_onnx_meta

from .graph import attach_meta, backbone_nodes

FP16 = "fp16"


def backbone_to_fp16(proto: onnx.ModelProto) -> onnx.ModelProto:
    """``proto`` (changed in place) with the backbone's nodes computing in fp16 and everything else as it was."""
    graph = proto.graph
    inside = set(backbone_nodes(proto))
    made_inside = {o for n in graph.node if n.name in inside for o in n.output}
    inits = {i.name: i for i in graph.initializer}
    to_half: dict[str, str] = {}  # tensor from outside the backbone -> its fp16 name, read by backbone nodes
    to_float: dict[str, str] = {}  # backbone tensor -> its fp32 name, read by the head
    for node in graph.node:
        for k, name in enumerate(node.input):
            if node.name in inside and name and name not in made_inside:
                init = inits.get(name)
                if init is not None and init.data_type != TensorProto.FLOAT:
                    continue  # shapes and other integer constants
                if name not in to_half and init is not None:
                    half = numpy_helper.to_array(init).astype(np.float16)
                    graph.initializer.append(numpy_helper.from_array(half, f"{name}_fp16"))
                to_half.setdefault(name, f"{name}_fp16")
                node.input[k] = to_half[name]
            elif node.name not in inside and name in made_inside:
                to_float.setdefault(name, f"{name}_fp32")
                node.input[k] = to_float[name]
    casts = {name: (half, TensorProto.FLOAT16) for name, half in to_half.items() if name not in inits}
    casts |= {name: (full, TensorProto.FLOAT) for name, full in to_float.items()}
    ordered = [_cast(name, *casts[name]) for name in (i.name for i in graph.input) if name in casts]
    for node in graph.node:  # each Cast right after the node that makes its input: the order stays topological
        ordered += [node, *(_cast(o, *casts[o]) for o in node.output if o in casts)]
    del graph.node[:]
    graph.node.extend(ordered)
    used = {name for n in graph.node for name in n.input}
    kept = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    del graph.value_info[:]  # fp32 types of tensors that are fp16 now; ONNX Runtime infers them again
    return proto


def _cast(source: str, target: str, to: int) -> onnx.NodeProto:
    kind = "fp16" if to == TensorProto.FLOAT16 else "fp32"
    return helper.make_node("Cast", [source], [target], to=to, name=f"Cast_to_{kind}{source}")


def convert_fp16(fp32: str | Path, output: str | Path) -> ModelMeta:
    """Write ``output``: ``fp32`` with its backbone in fp16; returns its metadata (``quantization="fp16"``)."""
    onnx.save(backbone_to_fp16(onnx.load(str(fp32))), str(output))
    onnx.checker.check_model(str(output), full_check=True)
    meta = replace(read_onnx_meta(fp32), quantization=FP16)
    attach_meta(output, meta, "backbone fp16, head fp32")
    return meta
