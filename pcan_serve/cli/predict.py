"""`pcan predict`: classify many videos; decoding of the next items overlaps inference of the current batch."""

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ..errors import MissingInput, PCANError
from ..preprocess.items import Item, from_manifest, from_videos, select
from ..preprocess.sources import sidecar
from ..preprocess.video import set_decode_device
from ..runtime import Predictor, Prepared
from ..runtime.output import failure
from ..workers import DECODE_THREADS_ENV, default_decode_threads
from .errors import UsageError, stop
from .writers import ResultWriter, check_output, finished_videos

err = Console(stderr=True)


def progress_bar(title: str, show: bool) -> Progress:
    """The progress bar of both executors, on stderr (rows may go to stdout)."""
    columns = (TextColumn(f"[bold]{title}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    return Progress(*columns, console=err, disable=not show)


def _prepare(predictor: Predictor, item: Item, num_clips: int) -> Prepared:
    if not Path(item.video).exists():
        raise MissingInput(f"video not found: {item.video}")
    if item.skeleton is None:
        raise MissingInput(
            f"no skeleton for {Path(item.video).name}: expected {sidecar(Path(item.video)).name} beside it "
            "(or pass --skeleton / --manifest)"
        )
    return predictor.prepare(item.video, item.skeleton, num_clips=num_clips, name=item.video)


def run_items(
    predictor: Predictor,
    items: list[Item],
    writer: ResultWriter,
    *,
    batch_size: int,
    top_k: int,
    num_clips: int,
    fusion: str,
    decode_threads: int | None = None,
    show_progress: bool = True,
) -> tuple[int, int]:
    """Returns (succeeded, failed). Each item yields exactly one row, in input order. ``decode_threads``: items
    decoded and preprocessed at once (None: one per CPU)."""
    ok = failed = 0
    progress = progress_bar("pcan predict", show_progress)
    with progress, ThreadPoolExecutor(max_workers=decode_threads or default_decode_threads()) as pool:
        task = progress.add_task("predict", total=len(items))
        queue: deque[tuple[Item, Future]] = deque()
        source = iter(items)

        def refill() -> None:  # keep up to two batches decoding ahead of the model
            while len(queue) < 2 * batch_size and (item := next(source, None)) is not None:
                queue.append((item, pool.submit(_prepare, predictor, item, num_clips)))

        def emit(row: dict) -> None:
            nonlocal ok, failed
            writer.write(row)
            ok, failed = (ok + 1, failed) if row["ok"] else (ok, failed + 1)
            progress.advance(task)

        refill()
        while queue:
            batch: list[Prepared] = []
            slots: list[Prepared | dict] = []  # input order: prepared items or their error rows
            while queue and len(batch) < batch_size:
                item, future = queue.popleft()
                try:
                    batch.append(future.result())
                    slots.append(batch[-1])
                except Exception as exc:  # a bad item becomes its error row; the run goes on
                    slots.append(failure(item.video, exc))
            refill()  # the next items decode while this batch runs
            results = []
            for p, probs in zip(batch, predictor.infer_isolated(batch), strict=True):
                try:  # an item that fails at inference fails alone; its batch neighbours still get answers
                    if isinstance(probs, Exception):
                        raise probs
                    results.append(predictor.format(p, probs, top_k=top_k, fusion=fusion))
                except Exception as exc:
                    results.append(failure(p.name, exc))
            done = iter(results)
            for slot in slots:
                emit(slot if isinstance(slot, dict) else next(done))
    return ok, failed


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


def predict(
    videos: Annotated[list[Path] | None, typer.Argument(help="Video files or folders of videos.")] = None,
    skeleton: Annotated[Path | None, typer.Option(help="Skeleton JSON/NPZ of the single VIDEO.")] = None,
    manifest: Annotated[Path | None, typer.Option(help="CSV/JSONL with columns video, skeleton.")] = None,
    checkpoint: Annotated[Path | None, typer.Option(help="PyTorch checkpoint (.pth).")] = None,
    onnx: Annotated[Path | None, typer.Option(help="Exported ONNX model.")] = None,
    engine: Annotated[Path | None, typer.Option(help="TensorRT engine.")] = None,
    preset: Annotated[str | None, typer.Option(help="ntu60 | tiny; without a model: its untrained weights.")] = None,
    device: Annotated[str, typer.Option(help="cpu | cuda | auto.")] = "auto",
    top_k: Annotated[int | None, typer.Option("--top-k", min=1, help="Default: 5 (or the class count).")] = None,
    num_clips: Annotated[int, typer.Option("--num-clips", min=1, max=32)] = 1,
    fusion: Annotated[str, typer.Option(help="late | fused.")] = "late",
    output: Annotated[str, typer.Option("--output", "-o", help="OUT.jsonl | OUT.csv | - (stdout).")] = "-",
    batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 4,
    decode_threads: Annotated[
        int | None,
        typer.Option(min=1, envvar=DECODE_THREADS_ENV, help="Videos decoded at once; default: one per CPU."),
    ] = None,
    decode_device: Annotated[
        str, typer.Option(help="cpu | cuda | auto: cuda decodes on NVDEC (PyNvVideoCodec), not bit-equal to cpu.")
    ] = "cpu",
    resume: Annotated[bool, typer.Option(help="Skip videos already in --output.")] = False,
    shard: Annotated[str | None, typer.Option(help="i/n: take every n-th item from i (0-based).")] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar on stderr.")] = True,
    executor: Annotated[str, typer.Option(help="local | ray (Ray Data: one machine or a cluster).")] = "local",
    ray_address: Annotated[str | None, typer.Option(help="Ray cluster to join; default: start a local Ray.")] = None,
    num_replicas: Annotated[
        int | None, typer.Option(min=1, help="Model replicas (ray); default: one per GPU, else 3/4 of the CPUs.")
    ] = None,
    decode_cpus: Annotated[float | None, typer.Option(help="CPUs per decode task (ray); default 1.")] = None,
) -> None:
    """Classify videos with their skeletons. Exit 0: all succeeded, 1: some failed, 2: usage error."""
    try:
        if bool(videos) == bool(manifest):
            raise UsageError("give VIDEO arguments or --manifest (one of them)")
        models = [m for m in (checkpoint, onnx, engine) if m is not None]
        if len(models) > 1:
            raise UsageError("give one of --checkpoint, --onnx, --engine")
        if models and not models[0].is_file():
            raise UsageError(f"model file not found: {models[0]}")
        if fusion not in ("late", "fused"):
            raise UsageError(f"--fusion must be late or fused, got {fusion!r}")
        if executor not in ("local", "ray"):
            raise UsageError(f"--executor must be local or ray, got {executor!r}")
        if executor == "local" and (ray_address, num_replicas, decode_cpus) != (None, None, None):
            raise UsageError("--ray-address, --num-replicas and --decode-cpus need --executor ray")
        if set_decode_device(decode_device) != "cpu" and executor == "ray":
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

            predictor = driver_frontend(models[0] if models else None, preset)
        else:
            predictor = Predictor.from_path(
                models[0] if models else None, preset=preset, device=device, batch_size=batch_size
            )
        top_k = top_k if top_k is not None else predictor.default_top_k()
        predictor.check_request(top_k=top_k, fusion=fusion, num_clips=num_clips)
        if executor == "ray":
            ray_run = RayRun.start(
                predictor,
                models[0] if models else None,
                preset=preset,
                device=device,
                address=ray_address,
                num_replicas=num_replicas,
                decode_cpus=decode_cpus,
            )
    except (UsageError, PCANError) as exc:
        stop(exc)
    if predictor.meta.weights == "untrained":
        err.print(
            f"[yellow]warning:[/yellow] no model given: untrained {predictor.config.name} weights (seeded), "
            'whose answers are meaningless; every output says "weights": "untrained"'
        )
    writer = ResultWriter(output, append=resume)
    try:
        common = dict(batch_size=batch_size, top_k=top_k, num_clips=num_clips, fusion=fusion, show_progress=progress)
        if ray_run is not None:
            ok, failed = ray_run.run(items, writer, **common)
        else:
            ok, failed = run_items(predictor, items, writer, decode_threads=decode_threads, **common)
    finally:
        writer.close()
        if ray_run is not None:
            ray_run.close()
    err.print(f"{ok} succeeded, {failed} failed" + (f" (output: {output})" if output != "-" else ""))
    raise typer.Exit(1 if failed else 0)
