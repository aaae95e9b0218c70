"""``pcan export onnx|tensorrt``: export, verify, and keep the file only when it matches its reference.

Exit codes: 0 exported (and verified), 1 export or verification failed (no file left behind),
2 usage error or a missing runtime (TensorRT / GPU).
"""

from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console

from pcan_serve.cli.errors import exit_code
from pcan_serve.errors import BackendUnavailable, PCANError
from pcan_serve.model.scores import fusion_name, parse_fusion_weights
from pcan_serve.preprocess.sources import sidecar

from .verify import VerificationFailed

app = typer.Typer(
    name="export",
    help="Export PCAN to ONNX or TensorRT, verified against the source runtime.",
    no_args_is_help=True,
    add_completion=False,
)
err = Console(stderr=True)

SampleOpt = Annotated[
    Path | None,
    typer.Option(
        "--sample",
        help="Video to verify on (skeleton: --sample-skeleton or beside it). "
        "Default: the NTU sample from PCAN_SAMPLE_DIR or shared/data/ntu60_sample, if present.",
    ),
]
SkeletonOpt = Annotated[Path | None, typer.Option("--sample-skeleton", help="Skeleton json of --sample.")]


def _sample(video: Path | None, skeleton: Path | None) -> tuple[Path, Path] | str:
    if video is None:
        return "auto"
    skeleton = skeleton or sidecar(video)
    for path in (video, skeleton):
        if not path.exists():
            _fail(f"sample file not found: {path}", 2)
    return video, skeleton


def _fusion_weights(text: str) -> tuple[float, float]:
    try:
        return parse_fusion_weights(text)
    except ValueError as exc:
        _fail(f"--fusion-weights: {exc}", 2)


def _fail(message: str, code: int) -> NoReturn:
    err.print(f"[red]error:[/red] {message}", soft_wrap=True)
    raise typer.Exit(code)


def _check_output_folder(output: Path) -> None:
    if not output.parent.is_dir():
        _fail(f"--output folder does not exist: {output.parent}", 2)


def _size(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


@app.command()
def onnx(
    checkpoint: Annotated[
        str, typer.Option(help="PCAN/RGBPoseConv3D checkpoint (.pth), or 'none' for untrained weights of --preset.")
    ],
    output: Annotated[Path, typer.Option(help="Where to write the .onnx file.")],
    preset: Annotated[str | None, typer.Option(help="ntu60 | tiny; default: the checkpoint's own, else ntu60.")] = None,
    opset: Annotated[int, typer.Option(help="ONNX opset (17 or newer).")] = 17,
    verify: Annotated[bool, typer.Option(help="Compare ONNX Runtime with PyTorch fp64; fail above tolerance.")] = True,
    tolerance: Annotated[
        float | None, typer.Option(help="Max abs difference of probabilities (default 1e-4; 1e-2 with --fp16).")
    ] = None,
    fusion_weights: Annotated[
        str | None,
        typer.Option(help="Late-fusion weights RGB:POSE stored in the file; default: the model's (learned, else 1:1)."),
    ] = None,
    sample: SampleOpt = None,
    sample_skeleton: SkeletonOpt = None,
    fp16: Annotated[bool, typer.Option(help="Backbone in fp16, head fp32: for ONNX Runtime's CUDA provider.")] = False,
    quantize: Annotated[
        str | None, typer.Option(help="int8: static int8 backbone for the CPU provider (needs --quant-data).")
    ] = None,
    quant_data: Annotated[
        Path | None, typer.Option(help="Manifest (CSV/JSONL) of real videos to calibrate int8 on and check it with.")
    ] = None,
    quant_clips: Annotated[int, typer.Option(min=1, help="Videos of --quant-data used, spread over it.")] = 32,
    min_agreement: Annotated[
        float, typer.Option(help="int8 is kept when its top-1 equals fp32's on this share of the clips.")
    ] = 0.95,
) -> None:
    """Export a checkpoint to ONNX (inputs imgs/heatmaps, outputs rgb/pose/fused probabilities)."""
    from pcan_serve.model import PRESETS

    from .onnx_export import MIN_OPSET, max_opset

    if not MIN_OPSET <= opset <= max_opset():
        _fail(f"--opset must be between {MIN_OPSET} and {max_opset()} (TorchScript exporter), got {opset}", 2)
    if preset is not None and preset not in PRESETS:
        _fail(f"unknown preset {preset!r}; choose one of {', '.join(sorted(PRESETS))}", 2)
    _check_precision(fp16, quantize, quant_data, min_agreement)
    weights = None if fusion_weights is None else _fusion_weights(fusion_weights)
    chosen = _sample(sample, sample_skeleton)
    source = None if checkpoint.lower() == "none" else checkpoint
    if source is not None and not Path(source).is_file():
        _fail(f"checkpoint not found: {source}", 2)
    _check_output_folder(output)
    common = dict(preset=preset, opset=opset, verify=verify, sample=chosen, fusion_weights=weights, console=err)
    if tolerance is not None:
        common["tolerance"] = tolerance
    try:
        if quantize:
            from .int8 import export_int8_onnx

            extra = dict(clips=quant_clips, min_agreement=min_agreement)
            result = export_int8_onnx(source, output, quant_data, **extra, **common)
        elif fp16:
            from .fp16 import export_fp16_onnx

            result = export_fp16_onnx(source, output, **common)
        else:
            from .onnx_export import export_verified_onnx

            result = export_verified_onnx(source, output, **common)
    except VerificationFailed as exc:
        _fail(f"{exc}; {output} was not written", 1)
    except (PCANError, ValueError) as exc:
        _fail(str(exc), exit_code(exc) if isinstance(exc, PCANError) else 1)
    err.print(
        f"[green]wrote[/green] {result.path} ({_size(result.size_bytes)}, pcan-{result.meta.config.name}, "
        f"{result.meta.quantization or 'fp32'}, weights {result.meta.weights}, "
        f"fused head {'trained' if result.meta.fused_head else 'untrained'}, "
        f"{'calibrated' if result.meta.calibrated else 'uncalibrated'}, "
        f"fusion {fusion_name(result.meta.fusion_weights)}) "
        f"export {result.export_seconds:.1f} s" + (f", verify {result.verify_seconds:.1f} s" if verify else ""),
        soft_wrap=True,
    )


def _check_precision(fp16: bool, quantize: str | None, quant_data: Path | None, min_agreement: float) -> None:
    if quantize is not None and quantize != "int8":
        _fail(f"--quantize: only int8 is supported, got {quantize!r}", 2)
    if fp16 and quantize:
        _fail("--fp16 and --quantize int8 make two different files; choose one", 2)
    if quantize and quant_data is None:
        _fail("--quantize int8 needs --quant-data MANIFEST: real clips to calibrate the activation ranges on", 2)
    if quant_data is not None and not quantize:
        _fail("--quant-data is only used with --quantize int8", 2)
    if quant_data is not None and not quant_data.is_file():
        _fail(f"--quant-data manifest not found: {quant_data}", 2)
    if not 0 < min_agreement <= 1:
        _fail(f"--min-agreement must be in (0, 1], got {min_agreement}", 2)


@app.command()
def tensorrt(
    onnx_path: Annotated[Path, typer.Option("--onnx", help="ONNX file from `pcan export onnx`.")],
    output: Annotated[Path, typer.Option(help="Where to write the engine; metadata goes to <output>.json.")],
    fp16: Annotated[bool, typer.Option(help="Allow fp16 kernels (tolerance 1e-2 instead of 1e-4).")] = False,
    min_batch: Annotated[int, typer.Option(help="Smallest batch the engine accepts.")] = 1,
    opt_batch: Annotated[int, typer.Option(help="Batch size TensorRT tunes for.")] = 4,
    max_batch: Annotated[int, typer.Option(help="Largest batch the engine accepts.")] = 8,
    workspace_gib: Annotated[float, typer.Option(help="Builder workspace memory limit (GiB).")] = 4.0,
    verify: Annotated[bool, typer.Option(help="Compare TensorRT with ONNX Runtime; fail above tolerance.")] = True,
    tolerance: Annotated[float | None, typer.Option(help="Max abs difference of probabilities.")] = None,
    sample: SampleOpt = None,
    sample_skeleton: SkeletonOpt = None,
) -> None:
    """Build a TensorRT engine from an exported ONNX file (needs TensorRT and an NVIDIA GPU)."""
    from .tensorrt_export import export_verified_engine, require_tensorrt

    if not 1 <= min_batch <= opt_batch <= max_batch:
        _fail(f"need 1 <= --min-batch <= --opt-batch <= --max-batch, got {min_batch}/{opt_batch}/{max_batch}", 2)
    if not onnx_path.exists():
        _fail(f"ONNX file not found: {onnx_path}", 2)
    _check_output_folder(output)
    try:
        require_tensorrt()
    except BackendUnavailable as exc:
        _fail(str(exc), 2)
    chosen = _sample(sample, sample_skeleton)
    try:
        result = export_verified_engine(
            onnx_path,
            output,
            fp16=fp16,
            min_batch=min_batch,
            opt_batch=opt_batch,
            max_batch=max_batch,
            verify=verify,
            sample=chosen,
            tolerance=tolerance,
            workspace_gib=workspace_gib,
            console=err,
        )
    except VerificationFailed as exc:
        _fail(f"{exc}; {output} was not written", 1)
    except (PCANError, ValueError, RuntimeError) as exc:
        _fail(str(exc), 1)
    err.print(
        f"[green]wrote[/green] {result.path} ({_size(result.size_bytes)}, build {result.build_seconds:.1f} s) "
        f"and {result.sidecar.name}",
        soft_wrap=True,
    )


def main() -> None:
    app()


if __name__ == "__main__":
    main()
