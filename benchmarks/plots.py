"""PNG plots from the records (matplotlib, headless): latency and throughput vs batch per backend, the
end-to-end stage breakdown of pcan against mmaction2, and HTTP latency vs concurrency when measured."""

from collections import defaultdict
from pathlib import Path
from typing import Any

from .records import Results, label


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(plt: Any, fig: Any, path: Path, **layout: Any) -> Path:
    fig.tight_layout(**layout)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def latency_vs_batch(res: Results, path: Path) -> Path | None:
    lines: dict[str, list[dict]] = defaultdict(list)
    for r in res.ok("model"):
        lines[f"{r['backend']} {r['device']} {r['precision']}"].append(r)
    if not lines:
        return None
    plt = _pyplot()
    fig, (ax_ms, ax_tp) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, recs in sorted(lines.items()):
        recs.sort(key=lambda r: r["batch"])
        xs = [r["batch"] for r in recs]
        med = [r["median_ms"] for r in recs]
        err = [[0 for _ in recs], [r["p95_ms"] - r["median_ms"] for r in recs]]
        ax_ms.errorbar(xs, med, yerr=err, marker="o", capsize=3, label=name)
        ax_tp.plot(xs, [r["throughput"] for r in recs], marker="o", label=name)
    preset = res.meta.get("model", {}).get("preset", "")
    ax_ms.set(xlabel="batch (clips)", ylabel="latency per call, ms (median, bar to p95)", title=f"forward ({preset})")
    ax_tp.set(xlabel="batch (clips)", ylabel="clips / s", title="throughput")
    for ax in (ax_ms, ax_tp):
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted({r["batch"] for recs in lines.values() for r in recs}))
        ax.get_xaxis().set_major_formatter(plt.ScalarFormatter())
        ax.grid(alpha=0.3)
    ax_ms.set_yscale("log")
    ax_tp.legend(fontsize=8)
    return _save(plt, fig, path)


def stage_breakdown(res: Results, path: Path) -> Path | None:
    recs = res.ok("e2e")
    if not recs:
        return None
    plt = _pyplot()
    height = 1.4 + 0.6 * len(recs)
    fig, ax = plt.subplots(figsize=(9, height))
    parts = ("decode", "preprocess", "inference", "other")
    colors = {"decode": "#4c72b0", "preprocess": "#dd8452", "inference": "#55a868", "other": "#bbbbbb"}
    names = [label(r) for r in recs]
    for i, r in enumerate(recs):
        split = dict(r.get("breakdown_ms", {}))
        split["other"] = max(0.0, r["median_ms"] - sum(split.values()))
        left = 0.0
        for part in parts:
            width = split.get(part, 0.0)
            ax.barh(i, width, left=left, color=colors[part], label=part if i == 0 else None)
            left += width
        ax.text(left, i, f" {r['median_ms']:.0f} ms", va="center", fontsize=8)
    ax.set_yticks(range(len(recs)), names, fontsize=8)
    ax.invert_yaxis()
    ax.set(xlabel="ms per video (medians of each part)", title="end to end, one video: where the time goes")
    ax.margins(x=0.15)
    fig.legend(fontsize=8, ncol=4, loc="lower center")
    return _save(plt, fig, path, rect=(0, 0.35 / height, 1, 1))


def http_latency(res: Results, path: Path) -> Path | None:
    recs = sorted(res.ok("http"), key=lambda r: r.get("concurrency") or 0)
    if not recs:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    xs = [r.get("concurrency") for r in recs]
    for key, style in (("median_ms", "o-"), ("p95_ms", "s--"), ("p99_ms", "^:")):
        ax.plot(xs, [r[key] for r in recs], style, label=key.removesuffix("_ms"))
    ax.set(xlabel="concurrent clients", ylabel="request latency, ms", title="HTTP /predict")
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(plt, fig, path)


def load_rss(res: Results, path: Path) -> Path | None:
    recs = [r for r in res.ok("load") if r.get("rss")]
    if not recs:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    done, mib = zip(*recs[0]["rss"], strict=True)
    ax.plot(done, mib, "-")
    ax.set(xlabel="requests answered (half corrupt videos, 8 clients)", ylabel="API process RSS, MiB")
    ax.set(title="API memory under load", ylim=(0, max(mib) * 1.15))
    ax.grid(alpha=0.3)
    return _save(plt, fig, path)


def write_plots(res: Results, out: Path) -> list[Path]:
    made = [
        load_rss(res, out / "load_rss.png"),
        latency_vs_batch(res, out / "latency_vs_batch.png"),
        stage_breakdown(res, out / "stage_breakdown.png"),
        http_latency(res, out / "http_latency.png"),
    ]
    return [p for p in made if p is not None]
