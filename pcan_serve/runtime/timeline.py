"""A timeline for a long video: the answer of every overlapping window, beside the whole-video answer.

The windows come from one decode pass (:mod:`pcan_serve.preprocess.windows`); they are run through the
predictor in batches as the decoder completes them, so memory holds a batch, not the whole timeline's inputs.
Scores, top-k lists and fusion are the prediction object's own (``Frontend.served_scores``, ``output.ranked``).
"""

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..preprocess.windows import TimeWindow, Windowed, open_windows
from .frontend import Frontend, Prepared
from .output import make_window
from .prediction import Prediction, SkeletonInfo
from .predictor import Predictor
from .request import PredictOptions

Progress = Callable[[int, int], None]
"""Called with (spans done, spans in all) after every batch: the windows and the whole video."""


def open_request_windows(frontend: Frontend, video: Any, skeleton: Any, options: PredictOptions) -> Windowed:
    """The video opened and its windows planned as ``options`` ask (every check fails here, before decoding);
    ``skeleton`` None: :func:`estimate_skeleton` makes it."""
    return open_windows(
        video,
        skeleton,
        options.window,
        options.stride,
        num_clips=options.num_clips,
        config=frontend.config.preprocess,
        limits=frontend.limits,
        timings={},
        decode_device=frontend.decode_device,
    )


def estimate_skeleton(frontend: Frontend, windowed: Windowed) -> None:
    """A video-only timeline's skeleton, estimated by the frontend's estimator on the frames the windows' pose
    clips sample; nothing to do when one was given."""
    if windowed.skeleton is None:
        windowed.estimate_skeleton(lambda opened, frames: frontend.pose.estimator().estimate(opened, frames).skeleton)


def run_timeline(
    predictor: Predictor,
    video: Any,
    skeleton: Any,
    options: PredictOptions,
    name: str,
    progress: Progress | None = None,
) -> Prediction:
    """Classify the whole video and each window of ``options``; bad input raises a typed
    :class:`~pcan_serve.errors.PCANError` before any frame is decoded."""
    options = predictor.check(options)
    windowed = open_request_windows(predictor, video, skeleton, options)
    total = len(windowed.windows) + 1
    answers: dict[TimeWindow, dict[str, np.ndarray]] = {}
    inference_ms = 0.0
    batch: list[tuple[TimeWindow, Prepared]] = []

    def flush() -> None:
        nonlocal inference_ms
        items = [item for _, item in batch]
        for (span, item), probs in zip(batch, predictor.infer(items), strict=True):
            answers[span] = probs
            inference_ms += item.timing_ms["inference"]
        batch.clear()
        if progress is not None:
            progress(len(answers), total)

    with windowed:
        estimate_skeleton(predictor, windowed)
        for span, inputs in windowed.inputs():
            batch.append((span, Prepared(name, inputs["imgs"], inputs["heatmaps"])))
            if len(batch) * options.num_clips >= predictor.batch_size:
                flush()
        if batch:
            flush()
    return assemble_timeline(predictor, windowed, answers, name, inference_ms, options)


def assemble_timeline(
    frontend: Frontend,
    windowed: Windowed,
    answers: Mapping[TimeWindow, dict[str, np.ndarray]],
    name: str,
    inference_ms: float,
    options: PredictOptions,
) -> Prediction:
    """The prediction with its ``timeline`` from every span's clip-averaged probabilities, wherever they were
    computed (a Predictor here, the model service over HTTP); decode and preprocess times from the pass."""
    timing = {**(windowed.timings or {}), "inference": inference_ms}
    persons = windowed.skeleton.num_persons
    if windowed.estimated:
        source = SkeletonInfo(source="estimated", persons=persons, estimator=frontend.pose.estimator().name)
    else:
        source = SkeletonInfo(source="uploaded", persons=persons)
    whole = Prepared(name, np.empty(0), np.empty(0), timing, source)  # format reads the name, timings, source
    prediction = frontend.format(whole, answers[windowed.whole], top_k=options.top_k, fusion=options.fusion)
    k, names = frontend.top_k_or_default(options.top_k), frontend.config.class_names
    windows = []
    for span in windowed.windows:
        scores, served, _ = frontend.served_scores(answers[span], options.fusion)
        windows.append(make_window(span.start, span.end, scores, served, names, k))
    return prediction.model_copy(update={"timeline": windows})
