"""Windows stage: a timeline's model inputs (every window and the whole video) from one decode pass over the file
(``pcan_serve.preprocess.windows``) against one decode per window (open the video, decode the window's sampled
frames, ``build_inputs``), in the same rounds. Decoding is most of the cost, and a decoder that cannot skip
(AVI: decode-order counters) starts every pass at the first frame.
"""

from pathlib import Path
from typing import Any

import numpy as np

from .context import Context
from .timing import Contender

WINDOW_S, STRIDE_S = 1.0, 0.5  # the NTU sample is 3.4 s long: six windows and the whole video


def run(ctx: Context) -> None:
    from pcan_serve.preprocess import build_inputs, open_video
    from pcan_serve.preprocess.windows import open_windows

    s, cfg = ctx.settings, ctx.model.config.preprocess
    with open_windows(s.video, s.skeleton, WINDOW_S, STRIDE_S, config=cfg) as planned:  # plans; decodes nothing
        spans, skeleton = [*planned.windows, planned.whole], planned.skeleton
    requested = {  # frames each contender asks its decoder for
        "one_pass": len(np.unique(np.concatenate([span.plan.rgb for span in spans]))),
        "per_window": sum(len(span.plan.rgb_unique) for span in spans),
    }

    def one_pass(_: Any) -> int:
        with open_windows(s.video, s.skeleton, WINDOW_S, STRIDE_S, config=cfg) as windowed:
            return sum(1 for _ in windowed.inputs())

    def per_window(_: Any) -> int:
        for span in spans:
            with open_video(s.video) as video:
                build_inputs(video.decode(span.plan.rgb_unique), skeleton, span.plan, cfg)
        return len(spans)

    contenders = [Contender("per_window", per_window), Contender("one_pass", one_pass)]
    note = f"{WINDOW_S:g} s windows every {STRIDE_S:g} s: {len(spans) - 1} windows + the whole video"

    def fields(name: str) -> dict[str, Any]:
        return dict(
            impl="pcan",
            backend="pyav",
            part=name,
            batch=1,
            per_call=len(spans),
            unit="windows/s",
            windows=len(spans) - 1,
            frames_requested=requested[name],
            note=note,
            video=Path(s.video).name,
        )

    ctx.record("windows", ctx.time(contenders), fields, reference="per_window")
