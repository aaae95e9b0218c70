"""``pcan export onnx|tensorrt``: export, verify, and keep the file only when it matches its reference.

The flags build the options objects of ``options.py`` (their defaults are shown in the help); errors end the
command through the CLI's one exit-code table (``pcan_serve/cli/errors.py``): 0 exported (and verified), 1 export
or verification failed (no file left behind), 2 options that cannot work or a missing runtime (TensorRT, GPU).
"""

from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from pcan_serve.cli.errors import UsageError, err, exit_code, fail
from pcan_serve.preprocess.sources import sidecar

from .options import FP16_TOLERANCE, FP32_TOLERANCE, EngineExportOptions, OnnxExportOptions, Sample, defaults

ONNX = defaults(OnnxExportOptions)
ENGINE = defaults(EngineExportOptions)
T = TypeVar("T")
Opts = TypeVar("Opts", OnnxExportOptions, EngineExportOptions)

app = typer.Typer(
    name="export",
    help="Export PCAN to ONNX or TensorRT, verified against the source runtime.",
    no_args_is_help=True,
    add_completion=False,
)


class Quantize(StrEnum):
    int8 = "int8"


SampleOpt = Annotated[
    Path | None,
    typer.Option(
        "--sample",
        help="Video to verify on (skeleton: --sample-skeleton or beside it).",
        show_default="the NTU sample from PCAN_SAMPLE_DIR or shared/data/ntu60_sample, if present",
    ),
]
SkeletonOpt = Annotated[
    Path | None, typer.Option("--sample-skeleton", help="Skeleton json of --sample.", show_default="beside it")
]
VerifyOpt = Annotated[bool, typer.Option(help="Check the file against its source runtime; fail above tolerance.")]
ToleranceOpt = Annotated[
    float | None,
    typer.Option(
        help="Max abs difference of probabilities.",
        show_default=f"{FP32_TOLERANCE:g}; {FP16_TOLERANCE:g} with --fp16",
    ),
]


def _sample(video: Path | None, skeleton: Path | None) -> Sample:
    return "auto" if video is None else (video, skeleton or sidecar(video))


def _run(export: Callable[[], T], output: Path) -> T:
    """``export()``, or one line and the exit code of the table for a known error (anything else is a bug)."""
    from pcan_serve.errors import PCANError

    from .verify import VerificationFailed

    try:
        return export()
    except (PCANError, UsageError) as exc:
        note = f"; {output} was not written" if isinstance(exc, VerificationFailed) else ""
        fail(f"{exc}{note}", exit_code(exc))


def _options(kind: type[Opts], params: dict[str, Any], **derived: Any) -> Opts:
    """``kind`` from the command's parameters of the same names as its fields, and the values ``derived`` here."""
    return kind(**{k: v for k, v in params.items() if k in kind.model_fields and k not in derived}, **derived)


def _size(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


@app.command()
def onnx(
    checkpoint: Annotated[
        str, typer.Option(help="PCAN/RGBPoseConv3D checkpoint (.pth), or 'none' for untrained weights of --preset.")
    ],
    output: Annotated[Path, typer.Option(help="Where to write the .onnx file.")],
    preset: Annotated[
        str | None, typer.Option(help="ntu60 | tiny.", show_default="the checkpoint's own, else ntu60")
    ] = ONNX.preset,
    opset: Annotated[int, typer.Option(help="ONNX opset, 17 or newer (up to what the exporter writes).")] = ONNX.opset,
    verify: VerifyOpt = ONNX.verify,
    tolerance: ToleranceOpt = ONNX.tolerance,
    fusion_weights: Annotated[
        str | None,
        typer.Option(help="Late-fusion weights RGB:POSE stored in the file.", show_default="the model's, else 1:1"),
    ] = None,
    sample: SampleOpt = None,
    sample_skeleton: SkeletonOpt = None,
    fp16: Annotated[bool, typer.Option(help="Backbone in fp16, head fp32: for ONNX Runtime's CUDA provider.")] = False,
    quantize: Annotated[
        Quantize | None, typer.Option(help="Static int8 backbone for the CPU provider (needs --quant-data).")
    ] = None,
    quant_data: Annotated[
        Path | None, typer.Option(help="Manifest (CSV/JSONL) of real videos to calibrate int8 on and check it with.")
    ] = ONNX.quant_data,
    quant_clips: Annotated[int, typer.Option(help="Videos of --quant-data used, spread over it.")] = ONNX.quant_clips,
    min_agreement: Annotated[
        float, typer.Option(help="int8 is kept when its top-1 equals fp32's on this share of the clips.")
    ] = ONNX.min_agreement,
) -> None:
    """Export a checkpoint to ONNX (inputs imgs/heatmaps, outputs rgb/pose/fused probabilities)."""
    params = locals()
    from pcan_serve.model.scores import fusion_name

    from .onnx_export import export_verified_onnx

    def export():
        if fp16 and quantize:
            raise UsageError("--fp16 and --quantize int8 make two different files; choose one")
        options = _options(
            OnnxExportOptions,
            params,
            checkpoint=None if checkpoint.lower() == "none" else Path(checkpoint),
            sample=_sample(sample, sample_skeleton),
            precision=quantize.value if quantize else "fp16" if fp16 else "fp32",
        )
        return export_verified_onnx(options, err)

    result = _run(export, output)
    meta = result.meta
    err.print(
        f"[green]wrote[/green] {result.path} ({_size(result.size_bytes)}, pcan-{meta.config.name}, "
        f"{meta.quantization or 'fp32'}, weights {meta.weights}, "
        f"fused head {'trained' if meta.fused_head else 'untrained'}, "
        f"{'calibrated' if meta.calibrated else 'uncalibrated'}, fusion {fusion_name(meta.fusion_weights)}) "
        f"export {result.export_seconds:.1f} s" + (f", verify {result.verify_seconds:.1f} s" if verify else ""),
        soft_wrap=True,
    )


@app.command()
def tensorrt(
    onnx: Annotated[Path, typer.Option("--onnx", help="ONNX file from `pcan export onnx`.")],
    output: Annotated[Path, typer.Option(help="Where to write the engine; metadata goes to <output>.json.")],
    fp16: Annotated[bool, typer.Option(help="Allow fp16 kernels.")] = ENGINE.fp16,
    min_batch: Annotated[int, typer.Option(help="Smallest batch the engine accepts.")] = ENGINE.min_batch,
    opt_batch: Annotated[int, typer.Option(help="Batch size TensorRT tunes for.")] = ENGINE.opt_batch,
    max_batch: Annotated[int, typer.Option(help="Largest batch the engine accepts.")] = ENGINE.max_batch,
    workspace_gib: Annotated[float, typer.Option(help="Builder workspace memory limit (GiB).")] = ENGINE.workspace_gib,
    verify: VerifyOpt = ENGINE.verify,
    tolerance: ToleranceOpt = ENGINE.tolerance,
    sample: SampleOpt = None,
    sample_skeleton: SkeletonOpt = None,
) -> None:
    """Build a TensorRT engine from an exported ONNX file (needs TensorRT and an NVIDIA GPU)."""
    params = locals()
    from .tensorrt_export import export_verified_engine

    def export():
        options = _options(EngineExportOptions, params, sample=_sample(sample, sample_skeleton))
        return export_verified_engine(options, err)

    result = _run(export, output)
    err.print(
        f"[green]wrote[/green] {result.path} ({_size(result.size_bytes)}, build {result.build_seconds:.1f} s) "
        f"and {result.sidecar.name}",
        soft_wrap=True,
    )


def main() -> None:
    app()


if __name__ == "__main__":
    main()
