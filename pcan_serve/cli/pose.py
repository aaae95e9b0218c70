"""`pcan pose` (skeletons in the input format for every frame of videos) and `pcan pose-dataset` (a folder of
videos + labels -> the mmaction2 annotation file `pcan train` reads). Exit codes: 0 every video done, 1 some
video failed (the others are still written), 2 usage error."""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import TaskID

from ..errors import PCANError
from ..pose import DEFAULT_PERSONS, PoseEstimator, PoseResult, dataset, load_estimator
from ..preprocess.limits import DEFAULT_MAX_PERSONS
from .errors import FAILED, err, fail
from .local_executor import progress_bar

app = typer.Typer(no_args_is_help=True, add_completion=False)

PoseModelOpt = Annotated[
    Path | None, typer.Option("--pose-model", help="RTMPose-style top-down ONNX (SimCC); default: BlazePose.")
]
MaxPersonsOpt = Annotated[
    int, typer.Option(min=1, max=DEFAULT_MAX_PERSONS, help="Persons followed per video (NTU: 2).")
]
ProgressOpt = Annotated[bool, typer.Option(help="Show a progress bar on stderr.")]


def _estimator(pose_model: Path | None, max_persons: int) -> PoseEstimator:
    if pose_model is not None and not pose_model.is_file():
        fail(f"pose model not found: {pose_model}")
    try:
        return load_estimator(pose_model, max_persons=max_persons)
    except PCANError as exc:
        fail(str(exc))


def estimate_each(
    estimator: PoseEstimator, videos: list[Path], show_progress: bool
) -> Iterator[tuple[Path, PoseResult | PCANError]]:
    """(video, result or its error) for each video in turn, with a bar over videos and one over frames."""
    with progress_bar("pcan pose", show_progress) as progress:
        overall = progress.add_task("videos", total=len(videos))
        for video in videos:
            frames = progress.add_task(video.name, total=None)

            def update(done: int, total: int, task: TaskID = frames) -> None:
                progress.update(task, completed=done, total=total)

            try:
                outcome: PoseResult | PCANError = estimator.estimate(video, progress=update)
            except PCANError as exc:
                outcome = exc
            progress.remove_task(frames)
            progress.advance(overall)
            yield video, outcome


def _report(video: Path, outcome: PoseResult | PCANError) -> bool:
    if isinstance(outcome, PCANError):
        err.print(f"[red]failed:[/red] {video}: {outcome.type}: {outcome}", soft_wrap=True)
        return False
    info = outcome.info
    err.print(f"{video.name}: {info.persons} person(s), {info.frames} frames, {info.ms / 1e3:.1f} s", soft_wrap=True)
    return True


@app.command(help="Estimate skeletons (COCO-17, pcan's skeleton input format) on every frame of videos.")
def pose(
    videos: Annotated[list[Path], typer.Argument(help="Video files.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="OUT.json (one video) or a folder.")],
    pose_model: PoseModelOpt = None,
    max_persons: MaxPersonsOpt = DEFAULT_PERSONS,
    progress: ProgressOpt = True,
) -> None:
    to_file = output.suffix.lower() == ".json"
    if to_file and len(videos) > 1:
        fail(f"{len(videos)} videos need a folder as --output, not {output.name}")
    names = [v.stem for v in videos]
    if not to_file and len(set(names)) < len(names):
        fail("two videos share a file name; their skeletons would overwrite each other in one folder")
    estimator = _estimator(pose_model, max_persons)
    if not to_file:
        output.mkdir(parents=True, exist_ok=True)
    failed = 0
    for video, outcome in estimate_each(estimator, videos, progress):
        if not _report(video, outcome):
            failed += 1
            continue
        target = output if to_file else output / f"{video.stem}.json"
        target.write_text(json.dumps(outcome.to_json(), separators=(",", ":")))
    raise typer.Exit(1 if failed else 0)


@app.command(
    "pose-dataset",
    help="Turn a folder of videos + a labels CSV (video,label[,split]) into the mmaction2 annotation file "
    "`pcan train` reads (skeletons estimated on every frame).",
)
def pose_dataset(
    videos_dir: Annotated[Path, typer.Argument(help="Folder of the videos (paths in the CSV are relative to it).")],
    labels: Annotated[Path, typer.Option("--labels", help="CSV with a header: video,label[,split (train|val)].")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Annotation file; its folder becomes the data root.")
    ] = Path(dataset.DEFAULT_ANN),
    val_fraction: Annotated[
        float, typer.Option(min=0.0, max=0.9, help="Share of each class put into val when the CSV has no split.")
    ] = 0.2,
    seed: Annotated[int, typer.Option(help="Seed of that split.")] = 0,
    pose_model: PoseModelOpt = None,
    max_persons: MaxPersonsOpt = DEFAULT_PERSONS,
    progress: ProgressOpt = True,
) -> None:
    if not videos_dir.is_dir():
        fail(f"videos folder not found: {videos_dir}")
    data_root = output.resolve().parent
    try:
        entries = dataset.assign_splits(dataset.read_labels(labels, videos_dir), val_fraction, seed)
        linked = dataset.link_videos(data_root, videos_dir)
    except dataset.LabelsError as exc:
        fail(str(exc))
    estimator = _estimator(pose_model, max_persons)
    done, failed = [], 0
    outcomes = estimate_each(estimator, [e.video for e in entries], progress)
    for entry, (video, outcome) in zip(entries, outcomes, strict=True):
        if _report(video, outcome):
            done.append((entry, dataset.annotation(entry, outcome)))
        else:
            failed += 1
    if not done:
        fail("no video could be used; nothing written", FAILED)
    split = dataset.write_annotations(output, done)
    counts = ", ".join(f"{name} {len(items)}" for name, items in split.items())
    err.print(f"wrote {output} ({counts}); videos read from {linked}", soft_wrap=True)
    hint = f"pcan train training/configs/pcan_ntu60.py --data-root {data_root}"
    if output.name != dataset.DEFAULT_ANN:  # the config names the file in each dataloader
        hint += " --cfg-options " + " ".join(
            f"{p}_dataloader.dataset.ann_file={output.name}" for p in ("train", "val", "test")
        )
    err.print(f"train with: {hint}", soft_wrap=True)
    raise typer.Exit(1 if failed else 0)
