"""One request's path through the API process: its cost from the headers, admission (or 503 at once), decoding on
the decode threads, its clips to the model a chunk at a time, the prediction object. A whole-video request and a
timeline request (``window``/``stride``) take the same path; the timeline's windows are decoded one after another in
one pass and each goes to the model as soon as it is ready."""

import asyncio
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import anyio.to_thread
import numpy as np

from ..runtime import Frontend, PredictOptions, Prepared
from ..runtime.timeline import assemble_timeline, estimate_skeleton, open_request_windows
from . import priority
from .admission import Admission, Ticket
from .cost import cost_of, estimate
from .dispatch import run_clips
from .form import PredictRequest
from .wire import ModelInput, ModelOutput

Infer = Callable[[ModelInput], Awaitable[ModelOutput]]


class RequestFlow:
    """The path of every request of this API process (``infer``: the model call, watched); the decode threads and
    the chunk size are admission's, whose finish bounds assume them."""

    def __init__(self, admission: Admission, infer: Infer):
        self.admission, self.infer = admission, infer
        self._decoders = priority.decode_pool(admission.decode_threads)

    async def run(self, frontend: Frontend, upload: PredictRequest) -> tuple[dict[str, Any], Prepared]:
        options = frontend.check(upload.options)
        if options.window is not None:
            return await self._timeline(frontend, upload, options)
        cost = await anyio.to_thread.run_sync(
            estimate, upload.video_path, upload.skeleton, options.num_clips, frontend.limits
        )
        ticket = self.admission.admit(cost, upload.wanted.arrived)  # 503 now if it cannot finish within the budget
        try:
            await upload.wanted.check()
            item = await self._decode(partial(_prepare, frontend, upload, options))
            self.admission.prepared(ticket, (item.timing_ms["decode"] + item.timing_ms["preprocess"]) / 1000)
            probs, model_ms = await self._clips(item, upload, ticket)
        finally:
            self.admission.release(ticket)
        item.timing_ms["inference"] = model_ms
        prediction = frontend.format(item, probs, top_k=options.top_k, fusion=options.fusion)
        return prediction.to_dict(), item

    async def _timeline(
        self, frontend: Frontend, upload: PredictRequest, options: PredictOptions
    ) -> tuple[dict[str, Any], Prepared]:
        """The windows of one decode pass, each sent to the model as the decoder completes it (memory: one span's
        inputs at a time), then the prediction with its timeline."""
        run = partial(open_request_windows, frontend, upload.video_path, upload.skeleton, options)
        windowed = await anyio.to_thread.run_sync(run)  # opened and planned: every check, no decoding
        answers, inference_ms = {}, 0.0
        with windowed:
            clips = windowed.clip_count
            cost = await anyio.to_thread.run_sync(cost_of, windowed.video, upload.skeleton, clips)
            ticket = self.admission.admit(cost, upload.wanted.arrived)
            try:
                await upload.wanted.check()
                await self._decode(partial(estimate_skeleton, frontend, windowed))  # video-only: admitted first
                spans = windowed.inputs()
                while True:
                    await upload.wanted.check()
                    done = await self._decode(partial(next, spans, None))
                    if done is None:
                        break
                    span, inputs = done
                    item = Prepared(upload.video_name, inputs["imgs"], inputs["heatmaps"])
                    answers[span], model_ms = await self._clips(item, upload, ticket)
                    inference_ms += model_ms
                timings = windowed.timings or {}
                self.admission.prepared(ticket, (timings.get("decode", 0.0) + timings.get("preprocess", 0.0)) / 1000)
            finally:
                self.admission.release(ticket)
        prediction = assemble_timeline(frontend, windowed, answers, upload.video_name, inference_ms, options)
        timing = prediction.timing_ms.model_dump()
        return prediction.to_dict(), Prepared(upload.video_name, np.empty(0), np.empty(0), timing)

    async def _decode(self, work: Callable[[], Any]) -> Any:
        """``work`` on a decode thread (cancellable: a request past its deadline is answered without waiting)."""
        return await asyncio.get_running_loop().run_in_executor(self._decoders, work)

    async def _clips(
        self, item: Prepared, upload: PredictRequest, ticket: Ticket
    ) -> tuple[dict[str, np.ndarray], float]:
        ran = partial(self.admission.ran, ticket)
        return await run_clips(self.infer, item, self.admission.chunk_clips, upload.wanted, ran)


def _prepare(frontend: Frontend, upload: PredictRequest, options: PredictOptions) -> Prepared:
    """In a decode thread; a request whose deadline passed while it waited for one is not decoded."""
    if upload.wanted.left_s() <= 0:
        raise upload.wanted.expired()
    return frontend.prepare(upload.video_path, upload.skeleton, num_clips=options.num_clips, name=upload.video_name)
