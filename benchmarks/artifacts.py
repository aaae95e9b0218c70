"""The one set of weights every backend is timed with: a checkpoint, and the ONNX file exported from it.

Without ``--checkpoint`` the weights are random but not degenerate (seeded; BatchNorm statistics and the
classifier weights spread out, so the classes are well separated and top-5 comparisons mean something);
the timing does not depend on the values. Files live in a work folder the caller deletes.
"""

import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from export.synthetic import randomise_weights
from pcan_serve.checkpoint import load_model, save_checkpoint
from pcan_serve.model import PCAN, PCANConfig, build_pcan


@dataclass
class BenchModel:
    config: PCANConfig
    checkpoint: Path
    weights: str  # "random (seed N)" or the checkpoint's path
    workdir: Path
    onnx: Path | None = None
    onnx_error: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def preset(self) -> str:
        return self.config.name


def random_model(preset: str, seed: int = 0) -> PCAN:
    """Seeded, well-conditioned random weights (export's calibrated randomisation: peaked, finite outputs)."""
    torch.manual_seed(seed)
    return randomise_weights(build_pcan(preset), seed=seed)


def prepare(preset: str, workdir: Path, checkpoint: Path | None = None, seed: int = 0) -> BenchModel:
    """A checkpoint file of ``preset`` (the given one, or random weights saved to ``workdir``)."""
    workdir.mkdir(parents=True, exist_ok=True)
    if checkpoint is not None:
        _, info = load_model(checkpoint, preset=preset)
        return BenchModel(info.config, Path(checkpoint), str(checkpoint), workdir)
    model = random_model(preset, seed)
    path = save_checkpoint(model, workdir / f"bench-{preset}.pth", fused_head_trained=False)
    return BenchModel(
        model.config,
        path,
        f"random (seed {seed})",
        workdir,
        notes=["random weights: no trained checkpoint given (--checkpoint); timings do not depend on weight values"],
    )


def ensure_onnx(bm: BenchModel) -> Path:
    """Export the checkpoint with the export stage's own exporter (once); raises why it cannot."""
    if bm.onnx is not None:
        return bm.onnx
    if bm.onnx_error is not None:
        raise RuntimeError(bm.onnx_error)
    try:
        from export.onnx_export import export_onnx, model_meta
    except ImportError as exc:
        bm.onnx_error = f"ONNX export unavailable (export.onnx_export: {exc})"
        raise RuntimeError(bm.onnx_error) from None
    model, info = load_model(bm.checkpoint, preset=bm.preset)
    start = time.perf_counter()
    try:
        bm.onnx = export_onnx(model, model_meta(info), bm.workdir / f"bench-{bm.preset}.onnx")
    except Exception as exc:
        bm.onnx_error = f"ONNX export failed: {type(exc).__name__}: {exc}"
        raise RuntimeError(bm.onnx_error) from None
    bm.notes.append(f"ONNX exported in {time.perf_counter() - start:.1f} s (export.onnx_export.export_onnx)")
    return bm.onnx
