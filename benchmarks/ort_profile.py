"""Where an ONNX Runtime CPU forward spends its time, by kind of node, from ONNX Runtime's own profiler.

Used to say *why* the int8 model is faster or slower than the fp32 one (``pcan bench``'s model stage): the time of
the convolutions (fp32 ``Conv``/``FusedConv`` or int8 ``QLinearConv``), of the two stems among them (the first
convolution of each pathway: few output channels over the largest inputs), of the quantise/dequantise nodes int8
adds, and of everything else. One profiled session per file, one untimed call first (weights are packed then).
"""

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from export.graph import BACKBONE_SCOPE

CONVOLUTIONS = ("Conv", "FusedConv", "QLinearConv")
CONVERSIONS = ("QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear")
STEMS = BACKBONE_SCOPE + "conv1/"  # the TorchScript exporter's names for both pathways' stem
KINDS = ("stem convolutions", "other convolutions", "quantise/dequantise", "other nodes")


def kind_of(op: str, node: str) -> str:
    if op in CONVOLUTIONS:
        return "stem convolutions" if node.startswith(STEMS) else "other convolutions"
    return "quantise/dequantise" if op in CONVERSIONS else "other nodes"


def node_ms(path: str | Path, feeds: Mapping[str, np.ndarray], runs: int = 3) -> dict[str, float]:
    """Milliseconds per call in each of :data:`KINDS`, summed over the nodes
    of one call; the median over ``runs`` profiled calls after an untimed first one (a busy machine preempts some)."""
    import onnxruntime as ort

    from pcan_serve.model_io.onnx_session import open_session

    options = ort.SessionOptions()
    options.enable_profiling = True
    options.profile_file_prefix = str(Path(path).with_suffix("")) + ".profile"
    session = open_session(path, None, options)
    for _ in range(runs + 1):
        session.run(None, dict(feeds))
    trace = Path(session.end_profiling())
    events = json.loads(trace.read_text())
    trace.unlink(missing_ok=True)
    calls = sorted((e["ts"], e["ts"] + e["dur"]) for e in events if e.get("name") == "model_run")[1:]
    per_call = [dict.fromkeys(KINDS, 0.0) for _ in calls]
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            call = next((i for i, (start, end) in enumerate(calls) if start <= e["ts"] <= end), None)
            if call is not None:
                per_call[call][kind_of(e["args"]["op_name"], e["name"])] += e["dur"] / 1e3  # microseconds
    return {k: round(float(np.median([c[k] for c in per_call])), 3) for k in KINDS}
