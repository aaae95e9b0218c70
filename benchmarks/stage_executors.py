"""Items/s of `pcan predict` with the local executor against `--executor ray`, end to end, as a user runs them.

``pcan bench --stages executors`` (not in the default set; needs the ``ray`` extra). The ntu60 preset runs 24
copies of the NTU sample with untrained weights, the tiny preset 64 synthetic clips. Each run is the real command
in a fresh process; the output file is polled, so a run yields its wall time (process start to exit: imports, Ray
start, actor start and model load included), the time to its first row, and its steady rate (rows between the
first and the last row seen, over that time). The ray executor runs once more on a simulated two-node cluster
(``ray.cluster_utils.Cluster``, one CPU per node) joined with ``--ray-address``.
"""

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pcan_serve.preprocess.sources import ntu_sample

from .context import Context


def _ntu_corpus(folder: Path, n: int) -> list[str]:
    """``n`` copies of the NTU sample (1920x1080, 103 frames) with their sidecars; untrained ntu60 weights."""
    sample = ntu_sample()
    if sample is None:
        raise FileNotFoundError("the NTU sample is missing (PCAN_SAMPLE_DIR)")
    video, skeleton = sample
    for i in range(n):
        shutil.copy(video, folder / f"v{i:04d}.avi")
        shutil.copy(skeleton, folder / f"v{i:04d}.json")
    return ["--preset", "ntu60"]


def _synth_corpus(folder: Path, n: int) -> list[str]:
    """``n`` synthetic 128x96 clips and a seeded tiny checkpoint: little work per item, so overhead shows."""
    import torch

    from pcan_serve import save_checkpoint
    from pcan_serve.model import build_pcan
    from training.synth import SynthSpec, generate

    synth = generate(folder / "synth", SynthSpec(num_classes=4, videos_per_class=max(2, -(-n // 4)), seed=3))
    for f in sorted((synth.root / "videos").glob("*.avi"))[:n]:
        shutil.copy(f, folder / f.name)
        shutil.copy(f.with_suffix(".json"), folder / f.with_suffix(".json").name)
    torch.manual_seed(0)
    return ["--checkpoint", str(save_checkpoint(build_pcan("tiny"), folder / "tiny.pth"))]


def run_once(corpus: Path, model_args: list[str], batch: int, extra: list[str], total: int) -> dict[str, Any]:
    out = corpus.parent / "out.jsonl"
    out.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "pcan_serve.cli", "predict", str(corpus), *model_args, "-o", str(out)]
    cmd += ["--batch-size", str(batch), "--no-progress", *extra]
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seen: list[tuple[float, int]] = []
    while proc.poll() is None:
        n = out.read_text().count("\n") if out.exists() else 0
        if n and (not seen or n > seen[-1][1]):
            seen.append((time.monotonic() - start, n))
        time.sleep(0.05)
    wall = time.monotonic() - start
    n = out.read_text().count("\n") if out.exists() else 0
    if n and (not seen or n > seen[-1][1]):
        seen.append((wall, n))
    if proc.returncode not in (0, 1) or n != total:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode} with {n}/{total} rows: {proc.stderr.read()}")
    (t0, n0), (t1, n1) = seen[0], seen[-1]
    return {
        "wall_s": round(wall, 2),
        "items_per_s": round(total / wall, 4),
        "first_row_s": round(t0, 2),
        "steady_items_per_s": round((n1 - n0) / (t1 - t0), 4) if t1 > t0 else None,
    }


def _cluster_run(corpus: Path, model_args: list[str], batch: int, total: int) -> dict[str, Any]:
    from ray.cluster_utils import Cluster

    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "object_store_memory": 300 * 2**20, "include_dashboard": False},
    )
    try:
        cluster.add_node(num_cpus=1, object_store_memory=300 * 2**20)
        cluster.wait_for_nodes()
        extra = ["--executor", "ray", "--ray-address", cluster.address, "--num-replicas", "1"]
        return {"nodes": 2, "cpus_per_node": 1, **run_once(corpus, model_args, batch, extra, total)}
    finally:
        cluster.shutdown()


def run(ctx: Context) -> None:
    ntu = ctx.model.preset == "ntu60"
    items = 24 if ntu else 64
    with tempfile.TemporaryDirectory(prefix="pcan-exec-bench-") as tmp:
        corpus = Path(tmp) / "corpus"
        corpus.mkdir()
        model_args = (_ntu_corpus if ntu else _synth_corpus)(corpus, items)
        for batch in ctx.settings.batch_sizes:
            runs = {
                "local": lambda b=batch: run_once(corpus, model_args, b, [], items),
                "ray": lambda b=batch: run_once(corpus, model_args, b, ["--executor", "ray"], items),
                "ray, 2 simulated nodes": lambda b=batch: _cluster_run(corpus, model_args, b, items),
            }
            for executor, call in runs.items():
                ctx.log(f"executors: {executor}, batch {batch}, {items} items")
                r = call()
                ctx.measured("executors", [r["wall_s"] * 1e3], backend=executor, batch=batch, unit="items/s",
                             per_call=items, items=items, **r)  # fmt: skip
