"""Result sinks for `pcan predict`: JSONL (one prediction object per line), CSV, or stdout.

CSV columns are derived from the prediction contract (``runtime/prediction.py``): a nested object's fields become
``parent.field`` columns, lists and maps JSON text, so a field added to the contract is a column with no edit here.
Cells that a spreadsheet would run as a formula (leading ``= + - @``, tab or carriage return: OWASP's CSV
injection list) are prefixed with ``'``; JSONL keeps every value as it is.
"""

import csv
import json
import sys
import types
import typing
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel

from ..runtime.prediction import Contract, Failure, Prediction, Row
from .errors import UsageError

OUTPUT_SUFFIXES = (".jsonl", ".csv")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    """The model class of a field typed ``Model`` or ``Model | None``; None for anything else."""
    options = typing.get_args(annotation) if isinstance(annotation, types.UnionType) else (annotation,)
    models = [a for a in options if isinstance(a, type) and issubclass(a, BaseModel)]
    return models[0] if len(models) == 1 else None


def csv_columns(*models: type[BaseModel]) -> list[str]:
    """Every row model's fields in order, nested models flattened one level (``model.backend``), no repeats."""
    columns: list[str] = []
    for model in models:
        for name, info in model.model_fields.items():
            nested = _nested_model(info.annotation)
            for column in [f"{name}.{sub}" for sub in nested.model_fields] if nested else [name]:
                if column not in columns:
                    columns.append(column)
    return columns


def flatten(row: Contract) -> dict[str, Any]:
    """A row's cells: nested models by ``parent.field``, lists and maps as JSON text, strings made inert."""
    cells: dict[str, Any] = {}
    for name, value in row.to_dict().items():
        if isinstance(value, dict) and _nested_model(type(row).model_fields[name].annotation):
            cells.update({f"{name}.{k}": v for k, v in value.items()})
        else:
            cells[name] = value
    return {k: _cell(v) for k, v in cells.items()}


def _cell(value: Any) -> Any:
    if isinstance(value, dict | list):
        value = json.dumps(value)
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


CSV_COLUMNS = csv_columns(Prediction, Failure)


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

    def write(self, row: Row) -> None:
        if self.kind == "csv":
            self._csv.writerow(flatten(row))
        else:
            self._f.write(json.dumps(row.to_dict()) + "\n")
        self._f.flush()

    def close(self) -> None:
        if self._own:
            self._f.close()

    def __enter__(self) -> "ResultWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _drop_partial_last_line(path: Path) -> None:
    """An interrupted run can leave half a row; cut it so appended rows start on a fresh line."""
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        path.write_bytes(data[: data.rfind(b"\n") + 1])


def finished_videos(target: str) -> set[str]:
    """Videos already in an output file (any row, ok or failed): what ``--resume`` skips. Read line by line."""
    path = Path(target)
    if target == "-" or not path.exists():
        return set()
    done = set()
    with path.open(newline="") as f:
        if target.lower().endswith(".csv"):
            done = {_inert_undone(row["video"]) for row in csv.DictReader(f) if row.get("video")}
        else:
            for line in f:
                try:
                    done.add(json.loads(line)["video"])
                except (json.JSONDecodeError, KeyError, TypeError):
                    continue  # a line cut off by an interrupted run: that item runs again
    return done


def _inert_undone(cell: str) -> str:
    """The video name a CSV cell holds (without the ``'`` that made a formula-like name inert)."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(FORMULA_START) else cell
