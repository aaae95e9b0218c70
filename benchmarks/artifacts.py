"""The one set of weights every stage is timed with: a checkpoint, and the ONNX file and TensorRT engines
exported from it by the export stage's own exporters. Each file is made on first use (decode and
preprocessing need none), in a work folder the caller deletes.

Without ``--checkpoint`` the weights are random but not degenerate (export's calibrated randomisation,
seeded: peaked, finite outputs, so top-5 comparisons mean something); timings do not depend on the values.
"""

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from export.verify import Case
from pcan_serve.model import PCANConfig, preset_config


@dataclass
class BenchModel:
    config: PCANConfig
    weights: str  # "random (seed N)" or the checkpoint's path
    workdir: Path
    seed: int = 0
    given: Path | None = None
    notes: list[str] = field(default_factory=list)
    _files: dict[str, Path | Exception] = field(default_factory=dict)

    @property
    def preset(self) -> str:
        return self.config.name

    def _once(self, key: str, make: Callable[[], Path], what: str) -> Path:
        """The file ``make()`` writes, made at most once; a failure is remembered and raised again."""
        if key not in self._files:
            start = time.perf_counter()
            try:
                self._files[key] = make()
                self.notes.append(f"{what} in {time.perf_counter() - start:.1f} s")
            except Exception as exc:
                self._files[key] = exc
        found = self._files[key]
        if isinstance(found, Exception):
            raise found  # the same error for every stage that needs the file (e.g. TensorRT not installed)
        return found

    @property
    def checkpoint(self) -> Path:
        if self.given is not None:
            return self.given
        return self._once("pth", self._random_checkpoint, "random weights made")

    def _random_checkpoint(self) -> Path:
        import torch

        from export.synthetic import randomise_weights
        from pcan_serve import save_checkpoint
        from pcan_serve.model import build_pcan

        torch.manual_seed(self.seed)
        model = randomise_weights(build_pcan(self.preset), seed=self.seed)
        return save_checkpoint(model, self.workdir / f"bench-{self.preset}.pth", fused_head_trained=False)

    def onnx(self, precision: str = "fp32", calibration: Sequence[Case] = ()) -> Path:
        """The checkpoint exported by ``export.export_verified_onnx`` (the parity check is the export tests'), or
        that file converted to fp16 or quantised to int8 (calibrated on ``calibration``) by the export's own code."""
        from export import OnnxExportOptions, export_verified_onnx
        from export.fp16 import convert_fp16
        from export.int8 import quantize_int8

        path = self.workdir / f"bench-{self.preset}.{precision}.onnx"

        def make() -> Path:
            if precision == "fp32":
                export_verified_onnx(OnnxExportOptions(checkpoint=self.checkpoint, output=path, verify=False))
            elif precision == "fp16":
                convert_fp16(self.onnx(), path)
            else:
                quantize_int8(self.onnx(), path, calibration)
            return path

        clips = f" on {sum(c.batch for c in calibration)} clips (the benchmark's inputs)" if precision == "int8" else ""
        return self._once(path.name, make, f"ONNX {precision} made{clips}")

    def engine(self, fp16: bool, max_batch: int) -> Path:
        """A TensorRT engine (and its sidecar) from the ONNX file, for batch 1..max_batch."""
        from export import EngineExportOptions, export_verified_engine

        precision = "fp16" if fp16 else "fp32"
        path = self.workdir / f"bench-{self.preset}-{precision}-b{max_batch}.engine"

        def make() -> Path:
            batches = dict(min_batch=1, opt_batch=max_batch, max_batch=max_batch)
            options = EngineExportOptions(onnx=self.onnx(), output=path, fp16=fp16, verify=False, **batches)
            return export_verified_engine(options).path

        return self._once(path.name, make, f"TensorRT {precision} engine (batch 1..{max_batch}) built")


def prepare(preset: str, workdir: Path, checkpoint: Path | None = None, seed: int = 0) -> BenchModel:
    """The benchmark's model: the given checkpoint, or seeded random weights of ``preset`` (made on first use)."""
    workdir.mkdir(parents=True, exist_ok=True)
    if checkpoint is None:
        note = "random weights: no trained checkpoint given (--checkpoint); timings do not depend on weight values"
        return BenchModel(preset_config(preset), f"random (seed {seed})", workdir, seed, notes=[note])
    from pcan_serve import load_model

    _, info = load_model(checkpoint, preset=preset)
    return BenchModel(info.config, str(checkpoint), workdir, seed, Path(checkpoint))
