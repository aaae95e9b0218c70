"""Result sinks for `pcan predict`: JSONL (one prediction object per line), CSV, or stdout."""

import csv
import json
import sys
from pathlib import Path
from typing import IO, Any

from .errors import UsageError

CSV_COLUMNS = [
    "video",
    "ok",
    "label",
    "name",
    "score",
    "fusion",
    "top_k",
    "branches",
    "backend",
    "weights",
    "total_ms",
    "error_type",
    "error_message",
]


def _csv_row(r: dict[str, Any]) -> dict[str, Any]:
    if not r["ok"]:
        return {
            "video": r["video"],
            "ok": False,
            "error_type": r["error"]["type"],
            "error_message": r["error"]["message"],
        }
    p = r["prediction"]
    return {
        "video": r["video"],
        "ok": True,
        "label": p["label"],
        "name": p["name"],
        "score": f"{p['score']:.6f}",
        "fusion": r["fusion"],
        "top_k": json.dumps(r["top_k"]),
        "branches": json.dumps(r["branches"]),
        "backend": r["model"]["backend"],
        "weights": r["model"]["weights"],
        "total_ms": r["timing_ms"]["total"],
    }


OUTPUT_SUFFIXES = (".jsonl", ".csv")


def check_output(target: str) -> None:
    """``-``, or a ``.jsonl``/``.csv`` file in an existing folder: anything else is a usage error."""
    if target == "-":
        return
    path = Path(target)
    if path.suffix.lower() not in OUTPUT_SUFFIXES:
        raise UsageError(f"--output must end in .jsonl or .csv (or be - for stdout), got {path.name}")
    if not path.parent.is_dir():
        raise UsageError(f"--output folder does not exist: {path.parent}")


class ResultWriter:
    """Appends rows as they come (flushed), so an interrupted run keeps what it finished (``--resume``)."""

    def __init__(self, target: str, append: bool) -> None:
        self.kind = "csv" if target.lower().endswith(".csv") else "jsonl"
        self._own = target != "-"
        if self._own:
            path = Path(target)
            fresh = not (append and path.exists() and path.stat().st_size > 0)
            if not fresh:
                _drop_partial_last_line(path)
            self._f: IO[str] = path.open("w" if fresh else "a", newline="")
        else:
            fresh, self._f = True, sys.stdout
        if self.kind == "csv":
            self._csv = csv.DictWriter(self._f, fieldnames=CSV_COLUMNS)
            if fresh:
                self._csv.writeheader()

    def write(self, row: dict[str, Any]) -> None:
        if self.kind == "csv":
            self._csv.writerow(_csv_row(row))
        else:
            self._f.write(json.dumps(row) + "\n")
        self._f.flush()

    def close(self) -> None:
        if self._own:
            self._f.close()


def _drop_partial_last_line(path: Path) -> None:
    """An interrupted run can leave half a row; cut it so appended rows start on a fresh line."""
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        path.write_bytes(data[: data.rfind(b"\n") + 1])


def finished_videos(target: str) -> set[str]:
    """Videos already in an output file (any row, ok or failed): what ``--resume`` skips."""
    path = Path(target)
    if target == "-" or not path.exists():
        return set()
    if target.lower().endswith(".csv"):
        with path.open(newline="") as f:
            return {row["video"] for row in csv.DictReader(f) if row.get("video")}
    done = set()
    for line in path.read_text().splitlines():
        try:
            done.add(json.loads(line)["video"])
        except (json.JSONDecodeError, KeyError, TypeError):
            continue  # a line cut off by an interrupted run: that item runs again
    return done
