"""One request's clips to the model, a chunk at a time (the API process's half of clip-level fair scheduling).

A request never has more than one chunk queued at the model (``batcher``), so requests take turns there chunk by
chunk. Before each chunk the request must still be wanted: its deadline not passed, its client still connected;
otherwise the rest of its clips never reach the model. Chunk results are combined into the request's clip average.
"""

from collections.abc import Awaitable, Callable

import numpy as np

from ..runtime import Prepared
from .deadline import Wanted
from .wire import ModelInput, ModelOutput


async def run_clips(
    call: Callable[[ModelInput], Awaitable[ModelOutput]],
    item: Prepared,
    chunk: int,
    wanted: Wanted,
    on_chunk: Callable[[int, float], None],
) -> tuple[dict[str, np.ndarray], float]:
    """(clip-averaged probabilities per branch, model milliseconds) for ``item``; ``on_chunk(clips, clip_s)``
    after each answered chunk."""
    sums: dict[str, np.ndarray] = {}
    total_ms = 0.0
    for start in range(0, len(item.imgs), chunk):
        await wanted.check()
        part = ModelInput(
            imgs=item.imgs[start : start + chunk],
            heatmaps=item.heatmaps[start : start + chunk],
            deadline=wanted.wall_deadline(),
        )
        out = await call(part)
        if out.dropped:
            raise wanted.expired()
        if out.error is not None:
            raise RuntimeError(out.error)
        for branch, probs in out.as_dict().items():
            sums[branch] = sums.get(branch, 0) + probs * out.clips
        total_ms += out.clip_ms * out.clips
        on_chunk(out.clips, out.clip_ms / 1000)
    return {branch: total / len(item.imgs) for branch, total in sums.items()}, total_ms
