"""`pcan predict`: classify many videos, locally or on Ray, one row per item in input order."""

from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from ..errors import PCANError
from ..preprocess.decode_cuda import resolve_decode_device
from ..preprocess.items import Item, from_manifest, from_videos, select
from ..runtime import Failure, Frontend, PredictOptions, Predictor, Row
from ..workers import DECODE_THREADS_ENV
from . import options as opt
from .errors import UsageError, err, stop
from .local_executor import progress_bar, run_items
from .writers import ResultWriter, check_output, finished_videos


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``i/n`` with 0 <= i < n: this machine takes every n-th item starting at i."""
    if text is None:
        return None
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise UsageError(f"--shard must look like i/n (e.g. 0/4), got {text!r}") from None
    if n < 1 or not 0 <= i < n:
        raise UsageError(f"--shard {text}: need 0 <= i < n")
    return i, n


def request_options(**values: object) -> PredictOptions:
    """The request contract from flag values; a value it refuses is a usage error naming the flag."""
    try:
        return PredictOptions(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        flag = "--" + str(first["loc"][0]).replace("_", "-")
        raise UsageError(f"{flag}: {first['msg']}, got {first['input']!r}") from None


def annotated(item: Item, row: Row, folder: Path, frontend: Frontend) -> Row:
    """``row`` after its pictures are written to ``folder``; a failure to draw them fails that item alone. A
    video without a skeleton is drawn with one estimated on every frame by the run's estimator (the prediction's
    own skeleton covers only the frames the pose branch samples)."""
    from ..render import write_pictures  # matplotlib and the encoder only when pictures are asked for

    limits = frontend.limits
    try:
        skeleton = item.skeleton
        if skeleton is None:
            lim = {"max_frames": limits.max_frames, "max_pixels": limits.max_pixels}
            skeleton = frontend.pose.estimator().estimate(item.video, **lim).skeleton
        write_pictures(item.video, skeleton, row.to_dict(), folder, limits=limits)
    except Exception as exc:
        return Failure.of(item.video, exc)
    return row


def predict(
    videos: Annotated[list[Path] | None, typer.Argument(help="Video files or folders of videos.")] = None,
    skeleton: Annotated[Path | None, typer.Option(help="Skeleton JSON/NPZ of the single VIDEO.")] = None,
    manifest: Annotated[Path | None, typer.Option(help="CSV/JSONL with columns video, skeleton.")] = None,
    checkpoint: opt.Checkpoint = None,
    onnx: opt.Onnx = None,
    engine: opt.Engine = None,
    preset: opt.Preset = None,
    device: opt.Device = "auto",
    top_k: Annotated[
        int | None,
        typer.Option("--top-k", min=1, help="Classes listed per branch.", show_default="5, or the class count"),
    ] = None,
    num_clips: Annotated[
        int, typer.Option("--num-clips", min=1, help="Clips sampled uniformly per video and averaged (at most 10).")
    ] = 1,
    fusion: Annotated[str, typer.Option(help="late (rgb + pose late fusion) | fused (the fused head).")] = "late",
    window: Annotated[
        float | None, typer.Option(help="Seconds: also classify overlapping windows of this length (a timeline).")
    ] = None,
    stride: Annotated[float | None, typer.Option(help="Seconds between window starts (with --window).")] = None,
    pose_model: Annotated[
        Path | None,
        typer.Option(
            help="RTMPose-style ONNX pose model for videos without a skeleton [default: BlazePose].", show_default=False
        ),
    ] = None,
    annotate: Annotated[
        Path | None, typer.Option(help="Folder for an annotated MP4 per video (+ a timeline PNG with --window).")
    ] = None,
    output: Annotated[str, typer.Option("--output", "-o", help="OUT.jsonl | OUT.csv | - (stdout).")] = "-",
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Clips per forward pass.")] = 4,
    decode_threads: Annotated[
        int | None,
        typer.Option(min=1, envvar=DECODE_THREADS_ENV, help="Videos decoded at once.", show_default="one per CPU"),
    ] = None,
    decode_device: Annotated[
        str, typer.Option(help="cpu | cuda | auto: cuda decodes on NVDEC (PyNvVideoCodec), not bit-equal to cpu.")
    ] = "cpu",
    resume: Annotated[bool, typer.Option(help="Skip videos already in --output.")] = False,
    shard: Annotated[str | None, typer.Option(help="i/n: take every n-th item from i (0-based).")] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar on stderr.")] = True,
    executor: Annotated[str, typer.Option(help="local | ray (Ray Data: one machine or a cluster).")] = "local",
    ray_address: Annotated[
        str | None, typer.Option(help="Ray cluster to join.", show_default="start a local Ray")
    ] = None,
    num_replicas: Annotated[
        int | None, typer.Option(min=1, help="Model replicas (ray).", show_default="one per GPU, else 3/4 of the CPUs")
    ] = None,
    decode_cpus: Annotated[float | None, typer.Option(help="CPUs per decode task (ray).", show_default="1")] = None,
) -> None:
    """Classify videos with their skeletons. Exit 0: all succeeded, 1: some failed, 2: usage error."""
    try:
        if bool(videos) == bool(manifest):
            raise UsageError("give VIDEO arguments or --manifest (one of them)")
        if skeleton is not None and manifest is not None:
            raise UsageError("--skeleton goes with one VIDEO; a manifest names its own skeletons")
        source = opt.model_source(checkpoint, onnx, engine, preset)
        options = request_options(top_k=top_k, fusion=fusion, num_clips=num_clips, window=window, stride=stride)
        if executor not in ("local", "ray"):
            raise UsageError(f"--executor must be local or ray, got {executor!r}")
        if executor == "ray" and (window is not None or annotate is not None or pose_model is not None):
            raise UsageError("--window, --annotate and --pose-model run with --executor local")
        if pose_model is not None and not pose_model.is_file():
            raise UsageError(f"--pose-model file not found: {pose_model}")
        if annotate is not None and not annotate.is_dir():
            raise UsageError(f"--annotate folder does not exist: {annotate}")
        if executor == "local" and (ray_address, num_replicas, decode_cpus) != (None, None, None):
            raise UsageError("--ray-address, --num-replicas and --decode-cpus need --executor ray")
        decode_device = resolve_decode_device(decode_device)
        if decode_device != "cpu" and executor == "ray":
            raise UsageError("--decode-device cuda decodes in this process: use it with --executor local")
        check_output(output)
        if resume and output == "-":
            raise UsageError("--resume needs --output FILE")
        items = from_manifest(manifest) if manifest else from_videos(list(videos or []), skeleton)
        done = finished_videos(output) if resume else set()
        items = select(items, parse_shard(shard), done)
        if resume:
            err.print(f"resume: {len(done)} items already in {output}, {len(items)} to go")
        ray_run = None
        if executor == "ray":  # the Ray replicas load the weights; this process needs only the description
            from .ray_executor import RayRun, driver_frontend

            frontend = driver_frontend(source)
            options = frontend.check(options)
            ray_run = RayRun.start(frontend, source, device, ray_address, num_replicas, decode_cpus)
        else:
            frontend = Predictor.from_path(
                source.path,
                preset=source.preset,
                device=device,
                batch_size=batch_size,
                decode_device=decode_device,
                pose_model=pose_model,
            )
            options = frontend.check(options)
    except (UsageError, PCANError) as exc:
        stop(exc)
    if frontend.meta.weights == "untrained":
        err.print(
            f"[yellow]warning:[/yellow] no model given: untrained {frontend.config.name} weights (seeded), "
            'whose answers are meaningless; every output says "weights": "untrained"'
        )
    counts = {True: 0, False: 0}
    with ResultWriter(output, append=resume) as writer, progress_bar("pcan predict", progress) as bar:
        task = bar.add_task("predict", total=len(items))

        def emit(item: Item, row: Row) -> None:
            if annotate is not None and row.ok:
                row = annotated(item, row, annotate, frontend)
            writer.write(row)
            counts[row.ok] += 1
            bar.advance(task)

        try:
            if ray_run is not None:
                ray_run.run(items, lambda row: emit(None, row), options, batch_size)
            else:
                run_items(frontend, items, emit, options, batch_size, decode_threads)
        finally:
            if ray_run is not None:
                ray_run.close()
    ok, failed = counts[True], counts[False]
    err.print(f"{ok} succeeded, {failed} failed" + (f" (output: {output})" if output != "-" else ""))
    raise typer.Exit(1 if failed else 0)
