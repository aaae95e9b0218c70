"""What the `--executor ray` tests share: a small local Ray, the synthetic corpus with two bad items, the
row-for-row comparison with the local executor, and stages that die on an item as a crashing decoder would."""

import json
import os
import pickle
import shutil
import sys
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import ray.cloudpickle
from typer.testing import CliRunner

from pcan_serve.cli import app
from pcan_serve.cli.ray_tasks import Replica, decode
from training.synth import SynthSpec, generate

# On 2 shared cores: two CPUs, a 200 MB object store (the tiny preset's inputs are ~100 KB an item), no dashboard.
RAY_INIT = {"num_cpus": 2, "object_store_memory": 200 * 2**20, "include_dashboard": False}
SPEC = SynthSpec(num_classes=3, videos_per_class=4, seed=11, val_fraction=0.25)


def make_corpus(root: Path) -> Path:
    """The synthetic videos with their sidecars, a corrupt video and a video without a skeleton (estimated), in
    one folder."""
    synth = generate(root / "synth", SPEC)
    corpus = root / "corpus"
    corpus.mkdir()
    for f in sorted((synth.root / "videos").iterdir()):
        if f.suffix in (".avi", ".json"):
            shutil.copy(f, corpus / f.name)
    first = sorted(corpus.glob("*.avi"))[0]
    (corpus / "corrupt.avi").write_bytes(b"\x00garbage" * 500)
    shutil.copy(first.with_suffix(".json"), corpus / "corrupt.json")
    shutil.copy(first, corpus / "noskel.avi")
    return corpus


def predict(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(app, ["predict", *args, "--no-progress"], catch_exceptions=False)
    return res.exit_code, res.output


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _scores(row: dict) -> dict[str, list[tuple[int, float]]]:
    parts = {"served": row["top_k"], **{b: v["top_k"] for b, v in row["branches"].items()}}
    return {k: [(d["label"], d["score"]) for d in v] for k, v in parts.items()}


def assert_same_rows(got: list[dict], want: list[dict], tol: float = 1e-5) -> None:
    """Same videos in the same order, same outcome and error type, labels equal and probabilities within ``tol``."""
    assert [r["video"] for r in got] == [r["video"] for r in want]
    for g, w in zip(got, want, strict=True):
        assert g["ok"] == w["ok"], g["video"]
        if not w["ok"]:
            assert g["error"] == w["error"]
            continue
        assert (g["fusion"], g["model"]) == (w["fusion"], w["model"])
        gs, ws = _scores(g), _scores(w)
        assert gs.keys() == ws.keys()
        for key in ws:
            assert [label for label, _ in gs[key]] == [label for label, _ in ws[key]], (g["video"], key)
            for (_, a), (_, b) in zip(gs[key], ws[key], strict=True):
                assert abs(a - b) <= tol, (g["video"], key, a, b)


CRASH = "crash"  # a video named crash* kills the process that works on it


def _kills(name: str) -> bool:
    return Path(name).name.startswith(CRASH)


def _die(video: str) -> NoReturn:
    """Counts the death in ``<video>.deaths`` beside the video, then ends the process as a crash does."""
    with Path(video).with_suffix(".deaths").open("a") as f:
        f.write(f"{os.getpid()}\n")
    os._exit(3)


def crashing_decode(row: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """The decode task, except that its process exits at once on a crash* video (no exception, no row): what a
    segfault in FFmpeg or the kernel's OOM killer does to a Ray worker."""
    if _kills(row["video"]):
        _die(row["video"])
    return decode(row, **kwargs)


class CrashingReplica(Replica):
    """A model replica whose process exits at once on a batch that holds a crash* video."""

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        for slot in [pickle.loads(p) for p in batch["payload"]]:
            if _kills(video := getattr(slot, "name", None) or slot.video):
                _die(video)
        return super().__call__(batch)


# Test code reaches the Ray workers by value (they do not have tests/ on their path), not through any hook in pcan.
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
