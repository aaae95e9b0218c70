"""Which answer a moment of the video shows: the timeline window centred nearest to it, else the whole video's.

Nearest centre: windows overlap, and the one centred on a moment saw the most of what happens around it. With
windows at least one stride long the nearest centre always lies in a window that covers the moment, and the
moments a window owns are bounded by the midpoints between neighbouring centres (what the demo page draws).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Moment:
    top_k: Sequence[Mapping[str, Any]]  # the served fusion's classes
    branches: Mapping[str, Sequence[Mapping[str, Any]]]  # branch -> its classes
    span: tuple[float, float] | None  # the window's [start, end) in seconds; None: the whole video


def moment_at(prediction: Mapping[str, Any], t: float) -> Moment:
    """The answer to show at ``t`` seconds, from a prediction output object (with or without ``timeline``)."""
    timeline = prediction.get("timeline") or []
    if not timeline:
        return Moment(prediction["top_k"], _branches(prediction), None)
    window = min(timeline, key=lambda w: abs((w["start"] + w["end"]) / 2 - t))
    return Moment(window["top_k"], _branches(window), (window["start"], window["end"]))


def owned_spans(timeline: Sequence[Mapping[str, Any]]) -> list[tuple[float, float]]:
    """For each window, the moments :func:`moment_at` gives it: between the midpoints of neighbouring centres."""
    centres = [(w["start"] + w["end"]) / 2 for w in timeline]
    cuts = [(a + b) / 2 for a, b in zip(centres, centres[1:], strict=False)]
    return list(zip([timeline[0]["start"], *cuts], [*cuts, timeline[-1]["end"]], strict=True))


def _branches(entry: Mapping[str, Any]) -> dict[str, Sequence[Mapping[str, Any]]]:
    return {name: b["top_k"] for name, b in entry.get("branches", {}).items()}
