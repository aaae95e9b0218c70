"""``pcan predict --executor ray``: the local executor's inputs and rows, computed by Ray Data.

Decode + preprocess run as Ray tasks (one per item), inference in an actor pool of model replicas
(``map_batches`` with :class:`~.ray_tasks.Replica`). Rows reach this process as they complete and are written
in input order (:class:`~.reorder.InOrder`). The items go through Ray in windows of ``WINDOW``: rows held back
behind a slow item never exceed a window, and an interrupted run has written everything before the window it
was in, so ``--resume`` redoes at most one window; only the current window's items are read from the input.

A task whose worker dies is tried ``TRIES`` times, never forever: an item that kills its worker on every try ends
as its ``WorkerCrashed`` row and the run goes on.
"""

import logging
from collections.abc import Callable, Iterable
from itertools import islice
from typing import Any

from pydantic import TypeAdapter

from ..errors import WorkerCrashed
from ..model_io import ModelSource, load_model, read_meta
from ..preprocess.items import Item
from ..runtime import Failure, Frontend, PredictOptions, Row
from .errors import UsageError
from .ray_cluster import Plan, connect, import_ray, plan
from .ray_tasks import Replica, ShippedModel, decode
from .reorder import InOrder

# A window boundary drains the pipeline and starts a fresh actor pool (3 s here with the tiny model; a GPU replica
# also loads its model): 32768 items keep that to a few per NTU-60-sized job. Rows wait as their JSON text (~2 KB),
# so even a window held back whole behind one slow item is ~70 MB (plus the window's items, ~20 MB).
WINDOW = 32768
DECODE_CALLS = 200
# Tries of a decode task, or of a replica's batch, whose process dies, in each of a window's two passes (its batch,
# then alone): four in all, as Ray's own default for tasks (max_retries=3). A worker also dies for reasons that are
# not its item's (a lost node, the kernel's OOM killer choosing it for a neighbour's memory), which a second try and
# a second pass outlive; an item that kills its worker every time costs four worker starts (~1-2 s each here).
TRIES = 2
DEVICES = ("auto", "cpu", "cuda")


ROWS = TypeAdapter(Row)


def driver_frontend(source: ModelSource) -> Frontend:
    """The model's description, read here to check the request before Ray starts; the weights load only in the
    replicas (a checkpoint is read once here on the CPU, as ``read_meta`` does)."""
    path, preset = source.path, source.preset
    meta = read_meta(path, preset) if path is not None else load_model(None, preset)[1].description
    return Frontend(meta, source.backend)


class RayRun:
    """One ``pcan predict`` job on Ray: connected (or started), sized to the cluster, the model shipped once."""

    def __init__(self, frontend: Frontend, shipped: ShippedModel, sizing: Plan, preset: str | None, owns: bool) -> None:
        self.frontend, self.shipped, self.plan, self.preset, self.owns = frontend, shipped, sizing, preset, owns

    @classmethod
    def start(
        cls,
        frontend: Frontend,
        source: ModelSource,
        device: str,
        address: str | None,
        num_replicas: int | None,
        decode_cpus: float | None,
    ) -> "RayRun":
        """Raises UsageError (exit 2) before any work when Ray is missing or the job cannot fit the cluster."""
        if device not in DEVICES and not device.startswith("cuda:"):
            raise UsageError(f"--device must be one of {', '.join(DEVICES)}, got {device!r}")
        owns = connect(address)
        ray = import_ray()
        try:
            sizing = plan(ray.cluster_resources(), device, num_replicas, decode_cpus)
            _quiet(ray)
            return cls(frontend, ShippedModel.put(source.path), sizing, source.preset, owns)
        except BaseException:
            if owns:
                ray.shutdown()
            raise

    def close(self) -> None:
        if self.owns:
            import_ray().shutdown()

    def run(
        self,
        items: Iterable[Item],
        emit: Callable[[Row], None],
        options: PredictOptions,
        batch_size: int,
        window: int = WINDOW,
    ) -> None:
        """One row per item, in input order, through ``emit``; ``items`` is read one window at a time.

        Ray drops what it could not compute in ``TRIES`` tries. A replica that dies on a batch loses the batch's
        other items too, and the calls queued behind it: every lost item of a window gets ``TRIES`` more tries
        alone (a batch of one, one call at a time per replica), so only an item that kills its worker ends as an
        error row.
        """
        order = InOrder(lambda text: emit(ROWS.validate_json(text)))
        source, start = iter(items), 0
        while chunk := list(islice(source, window)):
            stop = start + len(chunk)
            self._compute(order, list(enumerate(chunk, start)), batch_size, options, alone=False)
            if lost := order.missing(stop):
                self._compute(order, [(i, chunk[i - start]) for i in lost], batch_size, options, alone=True)
            for i in order.missing(stop):
                crashed = WorkerCrashed(
                    f"the Ray worker processing this item died on each of its {2 * TRIES} tries ({TRIES} in its "
                    f"batch, {TRIES} alone): a crash in the decoder or the model, or out of memory (Ray's log says)"
                )
                order.push(i, Failure.of(chunk[i - start].video, crashed).model_dump_json())
            start = stop

    def _compute(
        self, order: InOrder, items: list[tuple[int, Item]], batch_size: int, options: PredictOptions, alone: bool
    ) -> None:
        """The rows of ``items`` (input index, item) into ``order``; ``alone``: one item per replica call."""
        stages = self._dataset(items, batch_size, options, alone)
        for batch in stages.iter_batches(batch_size=None, batch_format="numpy"):
            for index, text in zip(batch["index"], batch["row"], strict=True):
                order.push(int(index), text)

    def _dataset(self, items: list[tuple[int, Item]], batch_size: int, options: PredictOptions, alone: bool) -> Any:
        ray = import_ray()
        rows = [{"index": i, "video": item.video, "skeleton": item.skeleton} for i, item in items]
        decoded = ray.data.from_items(rows, override_num_blocks=len(rows)).map(  # one decode task per item
            decode,
            fn_kwargs={
                "meta_json": self.frontend.meta.to_json(),
                "backend_name": self.frontend.backend_name,
                "options_json": options.model_dump_json(),
            },
            num_cpus=self.plan.decode_cpus,
            # A fresh decode process every DECODE_CALLS items: long-lived decoders keep freed frame memory (the
            # HTTP API measured 527 -> 1,100 MiB over 200 requests); a restart costs ~2 s, 1 % of 200 NTU decodes.
            # Unlike the replicas' remote arguments, it also keeps Ray from fusing decoding into the actor pool.
            max_calls=DECODE_CALLS,
            # Ray Data's default is -1: a task whose worker dies on its item, forever. (A remote argument: Ray 2.60
            # has no named parameter for it and deprecates the remote arguments for 2.64.)
            max_retries=TRIES - 1,
        )
        # What is still lost after its tries is dropped, not the end of the run (Ray Data's default, 0, would raise
        # on the first); ``run`` answers each lost item. Blocks hold one item (decode) or one batch (replicas).
        decoded.context.max_errored_blocks = -1
        return decoded.map_batches(
            Replica,
            fn_constructor_kwargs={
                "model": self.shipped,
                "preset": self.preset,
                "device": self.plan.device,
                "batch_size": batch_size,
                "options_json": options.model_dump_json(),
            },
            batch_size=1 if alone else batch_size,
            batch_format="numpy",
            # Ray Data queues a second call on each replica by default; a replica that dies fails it too.
            compute=ray.data.ActorPoolStrategy(
                size=self.plan.replicas, max_tasks_in_flight_per_actor=1 if alone else None
            ),
            num_cpus=self.plan.replica_cpus,
            num_gpus=self.plan.replica_gpus,
            max_task_retries=TRIES - 1,  # the actor itself is restarted without end (Ray Data's max_restarts=-1)
        )


def _quiet(ray: Any) -> None:
    """Our own progress bar and rows only: Ray Data's bars and per-run INFO lines would interleave with them."""
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)  # "progress bars disabled": we know
    dropped = logging.getLogger("ray.data._internal.execution.streaming_executor_state")
    if not any(isinstance(f, _WithoutTraceback) for f in dropped.filters):
        dropped.addFilter(_WithoutTraceback())


class _WithoutTraceback(logging.Filter):
    """Ray Data logs each block it drops with the exception attached. A handler that keeps its records (pytest's,
    a notebook's) would keep the traceback, whose frames hold the dead replica's actor handle: that actor is then
    never released (Ray Data frees a finished pool's actors by reference counting), its CPU stays taken, and the
    next pass waits for it forever. The record keeps the exception's type and message, on one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            record.msg, record.args = f"{record.getMessage()} {type(exc).__name__}: {exc}", None
            record.exc_info = record.exc_text = None
        return True
