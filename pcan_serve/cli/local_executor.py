"""`pcan predict`'s local executor: decoding of the next items overlaps inference of the current batch."""

from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ..errors import MissingInput
from ..preprocess.items import Item
from ..runtime import Failure, Frontend, PredictOptions, Predictor, Prepared, Row
from ..runtime.timeline import run_timeline
from ..workers import default_decode_threads
from .errors import err


def progress_bar(title: str, show: bool) -> Progress:
    """The progress bar of every long command, on stderr (rows may go to stdout)."""
    columns = (TextColumn(f"[bold]{title}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    return Progress(*columns, console=err, disable=not show)


def prepare_item_check(item: Item) -> None:
    """Both executors fail items alike: a missing video is that item's MissingInput (a missing skeleton is
    estimated from the video)."""
    if not Path(item.video).exists():
        raise MissingInput(f"video not found: {item.video}")


def prepare_item(frontend: Frontend, item: Item, options: PredictOptions) -> Prepared:
    """One item's model inputs."""
    prepare_item_check(item)
    return frontend.prepare(item.video, item.skeleton, num_clips=options.num_clips, name=item.video)


def run_timelines(
    predictor: Predictor, items: Iterable[Item], emit: Callable[[Item, Row], None], options: PredictOptions
) -> None:
    """One row with its timeline per item, in input order: each item's windows come from one decode pass and are
    batched through the model (``runtime.timeline``)."""
    for item in items:
        try:
            prepare_item_check(item)
            row: Row = run_timeline(predictor, item.video, item.skeleton, options, name=item.video)
        except Exception as exc:  # a bad item becomes its error row; the run goes on
            row = Failure.of(item.video, exc)
        emit(item, row)


def run_items(
    predictor: Predictor,
    items: Iterable[Item],
    emit: Callable[[Item, Row], None],
    options: PredictOptions,
    batch_size: int,
    decode_threads: int | None = None,
) -> None:
    """One row per item, in input order, through ``emit``; ``decode_threads`` items decode at once (None: one per
    CPU), up to two batches ahead of the model."""
    if options.window is not None:
        run_timelines(predictor, items, emit, options)
        return
    with ThreadPoolExecutor(max_workers=decode_threads or default_decode_threads()) as pool:
        queue: deque[tuple[Item, Future]] = deque()
        source = iter(items)

        def refill() -> None:
            while len(queue) < 2 * batch_size and (item := next(source, None)) is not None:
                queue.append((item, pool.submit(prepare_item, predictor, item, options)))

        refill()
        while queue:
            batch: list[Prepared] = []
            slots: list[tuple[Item, Prepared | Row]] = []  # input order: prepared items or their error rows
            while queue and len(batch) < batch_size:
                item, future = queue.popleft()
                try:
                    batch.append(future.result())
                    slots.append((item, batch[-1]))
                except Exception as exc:  # a bad item becomes its error row; the run goes on
                    slots.append((item, Failure.of(item.video, exc)))
            refill()  # the next items decode while this batch runs
            answers = iter(predictor.answer(batch, options))
            for item, slot in slots:
                emit(item, next(answers) if isinstance(slot, Prepared) else slot)
