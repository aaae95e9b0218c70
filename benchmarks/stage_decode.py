"""Decode stage: open the video and decode the sampled RGB frames of one clip, four ways in the same rounds.

* ``pcan``: ``open_video`` + ``Video.decode`` of the distinct sampled frames (PyAV, only the packets needed).
* ``decord``: ``decord.VideoReader(num_threads=1).get_batch`` of the same frames, as mmaction2's ``MMDecode``.
* ``floor``: PyAV decoding every frame of the video, one thread, no RGB conversion: what a decoder that cannot
  skip pays at least (below it, ``pcan`` skipped packets; near it, its own overhead is small).
* ``mmaction2``: its test pipeline's ``MMUniformSampleFrames`` + ``MMDecode``, on a fresh annotation dict per
  call (untimed): decord plus mmaction2's own handling.
"""

import importlib.util
import json
from pathlib import Path
from typing import Any

from .context import Context
from .timing import Contender

BACKENDS = {"pcan": "pyav", "decord": "decord", "floor": "pyav", "mmaction2": "mmaction2-transforms"}
IMPLS = {"pcan": "pcan", "decord": "decord", "floor": "pcan", "mmaction2": "mmaction2"}
PARTS = {"pcan": "sampled frames", "decord": "get_batch", "floor": "every frame, no RGB", "mmaction2": "MMDecode"}


def every_frame(video: Path) -> int:
    """Decode every frame (the floor); returns how many."""
    import av

    with av.open(str(video)) as container:
        stream = container.streams.best("video")
        stream.codec_context.thread_count = 1
        return sum(1 for _ in container.decode(stream))


def run(ctx: Context) -> None:
    from pcan_serve.preprocess import open_video, plan_clips

    s, cfg = ctx.settings, ctx.model.config.preprocess
    with open_video(s.video) as video:
        indices = plan_clips(video.num_frames, 1, cfg).rgb_unique

    def ours(_: Any) -> Any:
        with open_video(s.video) as video:
            return video.decode(plan_clips(video.num_frames, 1, cfg).rgb_unique)

    contenders = [Contender("pcan", ours), Contender("floor", lambda _: every_frame(Path(s.video)))]
    if importlib.util.find_spec("decord") is not None:
        import decord

        def theirs(_: Any) -> Any:
            return decord.VideoReader(str(s.video), num_threads=1).get_batch(indices).asnumpy()

        contenders.append(Contender("decord", theirs))
    else:
        ctx.skip("decode", "decord is not installed (pip install 'pcan[train]')", impl="decord", batch=1)
    if ctx.mm_status is None:
        from training.mm_reference import mm_annotation, mm_apply, mm_transforms

        transforms = mm_transforms(1, cfg.resize)[:2]
        skeleton = json.loads(Path(s.skeleton).read_text())
        mm = Contender("mmaction2", lambda ann: mm_apply(ann, transforms), lambda: mm_annotation(s.video, skeleton))
        contenders.append(mm)
    else:
        ctx.skip("decode", ctx.mm_status, impl="mmaction2", batch=1)
    note = f"{len(indices)} distinct sampled frames of one clip"

    def fields(name: str) -> dict[str, Any]:
        return dict(
            impl=IMPLS[name], backend=BACKENDS[name], part=PARTS[name], batch=1, note=note, video=Path(s.video).name
        )

    ctx.record("decode", ctx.time(contenders), fields, reference="mmaction2")
