"""``pcan predict --executor ray``: the local executor's inputs and rows, computed by Ray Data.

Decode + preprocess run as Ray tasks (one per item), inference in an actor pool of model replicas
(``map_batches`` with :class:`~.ray_tasks.Replica`). Rows reach this process as they complete and are written
in input order (:class:`~.reorder.InOrder`). The items go through Ray in windows of ``WINDOW``: rows held back
behind a slow item never exceed a window, and an interrupted run has written everything before the window it
was in, so ``--resume`` redoes at most one window.
"""

import logging
from collections.abc import Callable
from typing import Any

from pydantic import TypeAdapter

from ..model_io import ModelSource, load_model, read_meta
from ..preprocess.items import Item
from ..runtime import Frontend, PredictOptions, Row
from .errors import UsageError
from .ray_cluster import Plan, connect, import_ray, plan
from .ray_tasks import Replica, ShippedModel, decode
from .reorder import InOrder

# A window boundary drains the pipeline and starts a fresh actor pool (3 s here with the tiny model; a GPU replica
# also loads its model): 32768 items keep that to a few per NTU-60-sized job. Rows wait as their JSON text (~2 KB),
# so even a window held back whole behind one slow item is ~70 MB.
WINDOW = 32768
DECODE_CALLS = 200
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
        items: list[Item],
        emit: Callable[[Row], None],
        options: PredictOptions,
        batch_size: int,
        window: int = WINDOW,
    ) -> None:
        """One row per item, in input order, through ``emit``."""
        order = InOrder(lambda text: emit(ROWS.validate_json(text)))
        for start in range(0, len(items), window):
            stop = min(start + window, len(items))
            stages = self._dataset(items, start, stop, batch_size, options)
            for batch in stages.iter_batches(batch_size=None, batch_format="numpy"):
                for index, text in zip(batch["index"], batch["row"], strict=True):
                    order.push(int(index), text)
            if lost := order.missing(stop):  # Ray retries dead tasks until they succeed: this is a bug
                raise RuntimeError(f"Ray returned no row for {len(lost)} items, e.g. {items[lost[0]].video}")

    def _dataset(self, items: list[Item], start: int, stop: int, batch_size: int, options: PredictOptions) -> Any:
        ray = import_ray()
        rows = [{"index": i, "video": items[i].video, "skeleton": items[i].skeleton} for i in range(start, stop)]
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
        )
        return decoded.map_batches(
            Replica,
            fn_constructor_kwargs={
                "model": self.shipped,
                "preset": self.preset,
                "device": self.plan.device,
                "batch_size": batch_size,
                "options_json": options.model_dump_json(),
            },
            batch_size=batch_size,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=self.plan.replicas),
            num_cpus=self.plan.replica_cpus,
            num_gpus=self.plan.replica_gpus,
        )


def _quiet(ray: Any) -> None:
    """Our own progress bar and rows only: Ray Data's bars and per-run INFO lines would interleave with them."""
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)  # "progress bars disabled": we know
