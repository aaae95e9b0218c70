"""A timeline as a PNG: per window, the served top class's probability as a bar coloured by that class (over
the moments the window labels, :func:`~.answers.owned_spans`), each branch's top probability as a line, and
the whole-video answer as a dashed line.

matplotlib's object API with the Agg canvas: no pyplot, no global backend switch, safe in any thread.
"""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from .answers import owned_spans
from .overlay import BRANCH_ROWS

LINE_STYLES = {"rgb": (0, (4, 2)), "pose": (0, (1, 1.5)), "fused": (0, (6, 2, 1, 2))}


def class_colors(labels: list[int]) -> dict[int, Any]:
    """One colour per class, in the order the classes first appear (tab10, then tab20's lighter shades)."""
    from matplotlib import colormaps

    palette = [*colormaps["tab10"].colors, *colormaps["tab20"].colors[1::2]]
    order = list(dict.fromkeys(labels))
    return {label: palette[i % len(palette)] for i, label in enumerate(order)}


def plot_timeline(prediction: Mapping[str, Any], out_path: str | Path, dpi: int = 100) -> Path:
    """Write the PNG; ``prediction`` is a prediction output object that carries a ``timeline``."""
    timeline = prediction.get("timeline") or []
    if not timeline:
        raise ValueError("the prediction has no timeline: ask for one with window and stride (seconds)")
    spans = owned_spans(timeline)
    tops = [w["top_k"][0] for w in timeline]
    colors = class_colors([c["label"] for c in tops])
    fig = Figure(figsize=(10, 4.2), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for (a, b), top in zip(spans, tops, strict=True):
        ax.bar(a, top["score"], width=b - a, align="edge", color=colors[top["label"]], alpha=0.85, linewidth=0)
    centres = [(w["start"] + w["end"]) / 2 for w in timeline]
    lines = []
    for key, title in BRANCH_ROWS:
        if all(key in w.get("branches", {}) for w in timeline):
            scores = [w["branches"][key]["top_k"][0]["score"] for w in timeline]
            lines += ax.plot(centres, scores, color="0.15", linestyle=LINE_STYLES[key], marker=".", label=title)
    whole = prediction["top_k"][0]
    lines.append(ax.axhline(whole["score"], color="0.45", linestyle="--", linewidth=1, label="whole video"))
    names = {c["label"]: c["name"] for c in tops}
    classes = [Patch(color=colors[label], label=names[label]) for label in colors]
    ax.legend(handles=[*classes, *lines], loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    ax.set_xlim(spans[0][0], spans[-1][1])
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("seconds")
    ax.set_ylabel("top-1 probability")
    fusion = str(prediction.get("fusion", "")).replace("_", " ")
    video = Path(str(prediction.get("video", ""))).name
    ax.set_title(f"{video}: whole video {whole['name']} {whole['score']:.2f} ({fusion})", fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    out_path = Path(out_path)
    fig.savefig(out_path)
    return out_path
