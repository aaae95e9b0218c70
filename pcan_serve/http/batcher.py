"""The model process's scheduler: chunks of clips from concurrent requests, run in greedy batches.

Each API process sends a request's clips one chunk at a time (``dispatch.run_clips``), so this queue holds at most
one chunk per request in progress, and first come, first served over chunks is round robin over requests: a request
of many clips delays a one-clip request that arrives behind it by about one batch, not by all its clips. A batch is
what is queued when the model becomes free (at most ``max_chunks`` chunks and ``max_clips`` clips); it never waits
for more. A chunk whose deadline has passed is dropped when its turn comes, before the model runs it.

This replaces BentoML's adaptive batching (``CorkDispatcher``) for the model: that one waits to fill a batch for
as long as the average wait it has learned (under load, seconds of queueing), so on a CPU, where a forward takes
seconds a clip and a larger batch gains little, a lone request after a busy spell sat idle for seconds; and its queue
policy cancels the oldest call with a 503 once ``max_latency`` has passed, after the client has waited it all.
"""

import asyncio
import collections
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import anyio.to_thread
import bentoml
import numpy as np

from ..runtime import Prepared
from .wire import ModelInput, ModelOutput

logger = logging.getLogger("bentoml.pcan")
Run = Callable[[list[Prepared]], list[dict[str, np.ndarray] | Exception]]

BATCH_CLIPS = bentoml.metrics.Histogram(
    name="pcan_model_batch_clips",
    documentation="Clips per model batch (chunks of several requests run together)",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
)
QUEUED = bentoml.metrics.Gauge(
    name="pcan_model_queue_chunks",
    documentation="Chunks of clips waiting for the model (at most one per request in progress)",
    multiprocess_mode="livesum",
)
DROPPED = bentoml.metrics.Counter(
    name="pcan_model_dropped_chunks",
    documentation="Chunks dropped unrun because their request's deadline had passed",
)


@dataclass
class _Job:
    chunk: ModelInput
    answer: asyncio.Future


class Batcher:
    """``await submit(chunk)``: the chunk's answer, once a batch has run it (``run``: ``infer_isolated``)."""

    def __init__(self, run: Run, max_clips: int, max_chunks: int) -> None:
        self.run, self.max_clips, self.max_chunks = run, max_clips, max_chunks
        self._queue: collections.deque[_Job] = collections.deque()
        self._wake = asyncio.Event()
        self._worker: asyncio.Task | None = None

    async def submit(self, chunk: ModelInput) -> ModelOutput:
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._serve())
        job = _Job(chunk, asyncio.get_running_loop().create_future())
        self._queue.append(job)
        QUEUED.inc()
        self._wake.set()
        return await job.answer

    async def _serve(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                batch = self._take()
                if batch:
                    await self._run(batch)

    def _take(self) -> list[_Job]:
        """The next batch, in arrival order; chunks past their deadline, or no longer awaited, are dropped."""
        batch: list[_Job] = []
        clips = 0
        now = time.time()
        while self._queue and len(batch) < self.max_chunks:
            job = self._queue[0]
            n = len(job.chunk.imgs)
            if batch and clips + n > self.max_clips:
                break
            self._queue.popleft()
            QUEUED.dec()
            if job.answer.done():
                continue
            if job.chunk.deadline < now:
                DROPPED.inc()
                job.answer.set_result(ModelOutput(dropped=True))
                continue
            batch.append(job)
            clips += n
        return batch

    async def _run(self, batch: list[_Job]) -> None:
        items = [Prepared(str(i), job.chunk.imgs, job.chunk.heatmaps) for i, job in enumerate(batch)]
        clips = sum(len(item.imgs) for item in items)
        start = time.perf_counter()
        try:
            results = await anyio.to_thread.run_sync(self.run, items)
        except Exception as exc:  # run isolates items; this is a failure of the batch as a whole
            results = [exc] * len(items)
        clip_ms = (time.perf_counter() - start) * 1000 / clips
        BATCH_CLIPS.observe(clips)
        for job, item, result in zip(batch, items, results, strict=True):
            if job.answer.done():
                continue
            if isinstance(result, Exception):
                logger.error("inference failed", exc_info=result)
                job.answer.set_result(ModelOutput(error=f"{type(result).__name__}: {result}"))
                continue
            job.answer.set_result(
                ModelOutput(
                    branches=list(result),
                    probs=np.stack(list(result.values())),
                    clips=len(item.imgs),
                    clip_ms=clip_ms,
                )
            )
