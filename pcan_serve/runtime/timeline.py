"""A timeline for a long video: the answer of every overlapping window, beside the whole-video answer.

The windows come from one decode pass (:mod:`pcan_serve.preprocess.windows`); they are run through the
predictor in batches as the decoder completes them, so memory holds a batch, not the whole timeline's inputs.
Scores, top-k lists and fusion are the prediction object's own (``output.top_k``, ``Frontend.fuse``).
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from ..preprocess.windows import TimeWindow, Windowed, open_windows
from .frontend import Frontend, Prepared
from .output import top_k as top_classes
from .predictor import Predictor

BRANCHES = ("rgb", "pose", "fused")


class ClassScore(BaseModel):
    label: int = Field(description="Class index.")
    name: str = Field(description="Class name.")
    score: float = Field(description="Probability.")


class BranchTopK(BaseModel):
    top_k: list[ClassScore]


class Window(BaseModel):
    """One window of the timeline: its time span and what the model saw in it."""

    start: float = Field(description="Seconds from the start of the video (first frame of the window).")
    end: float = Field(description="Seconds; the window covers [start, end).")
    top_k: list[ClassScore] = Field(description="The served fusion's best classes in this window.")
    branches: dict[str, BranchTopK] = Field(description="Per-branch best classes: rgb, pose, fused (when trained).")


def answer_window(
    frontend: Frontend, span: TimeWindow, probs: dict[str, np.ndarray], k: int, fusion: str = "late"
) -> Window:
    """A window's entry from its clip-averaged probabilities (what ``Predictor.infer`` returns for it)."""
    names = frontend.config.class_names
    fused, key, _ = frontend.fuse(probs, fusion)
    branches = {b: {"top_k": top_classes(fused[b], names, k)} for b in BRANCHES if b in fused}
    return Window.model_validate(
        {
            "start": round(span.start, 3),
            "end": round(span.end, 3),
            "top_k": top_classes(fused[key], names, k),
            "branches": branches,
        }
    )


@dataclass
class Timeline:
    """The whole-video prediction object and the windows' answers, in time order."""

    prediction: dict[str, Any]
    windows: list[Window]

    def as_dict(self) -> dict[str, Any]:
        """The prediction output object with its ``timeline`` list (DESIGN.md "Prediction output")."""
        return {**self.prediction, "timeline": [w.model_dump() for w in self.windows]}


Progress = Callable[[int, int], None]
"""Called with (spans done, spans in all) after every batch: the windows and the whole video."""


def run_timeline(
    predictor: Predictor,
    video: Any,
    skeleton: Any,
    window: float,
    stride: float,
    top_k: int | None = None,
    num_clips: int = 1,
    fusion: str = "late",
    name: str | None = None,
    progress: Progress | None = None,
) -> Timeline:
    """Classify the whole video and each ``window``-second window every ``stride`` seconds; bad input raises a
    typed :class:`~pcan_serve.errors.PCANError` before any frame is decoded. ``top_k`` None: 5, or the class count."""
    top_k = top_k if top_k is not None else predictor.default_top_k()
    predictor.check_request(top_k=top_k, fusion=fusion, num_clips=num_clips)
    timings: dict[str, float] = {}
    windowed = open_windows(
        video,
        skeleton,
        window,
        stride,
        num_clips=num_clips,
        config=predictor.config.preprocess,
        timings=timings,
        **predictor.limits,
    )
    label = name if name is not None else (str(video) if isinstance(video, str | Path) else "upload")
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
        for span, inputs in windowed.inputs():
            batch.append((span, Prepared(label, inputs["imgs"], inputs["heatmaps"])))
            if len(batch) * num_clips >= predictor.batch_size:
                flush()
        if batch:
            flush()
    return assemble_timeline(predictor, windowed, answers, label, inference_ms, top_k, fusion)


def assemble_timeline(
    frontend: Frontend,
    windowed: Windowed,
    answers: Mapping[TimeWindow, dict[str, np.ndarray]],
    name: str,
    inference_ms: float,
    top_k: int,
    fusion: str = "late",
) -> Timeline:
    """The timeline answer from every span's clip-averaged probabilities, wherever they were computed (a
    Predictor here, the model service over HTTP); decode and preprocess times from ``windowed.timings``."""
    timing = {**(windowed.timings or {}), "inference": inference_ms}
    whole = Prepared(name, np.empty(0), np.empty(0), timing)  # format reads only the name and the timings
    prediction = frontend.format(whole, answers[windowed.whole], top_k=top_k, fusion=fusion)
    windows = [answer_window(frontend, w, answers[w], top_k, fusion) for w in windowed.windows]
    return Timeline(prediction, windows)
