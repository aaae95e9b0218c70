"""The prediction object's field table in docs/formats.md, generated from the contract (``prediction.py``).

``python -m pcan_serve.runtime.schema_docs docs/formats.md`` rewrites the table between its two markers; a test
checks that the committed file equals what this module writes, so the docs cannot drift from the contract.
"""

import sys
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from .prediction import Failure, Prediction

BEGIN = "<!-- prediction-fields: generated from pcan_serve/runtime/prediction.py; do not edit by hand -->"
END = "<!-- prediction-fields: end -->"


def _type_name(annotation: Any) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin is typing.Literal:
        return " \\| ".join(f"`{a!r}`".replace("'", '"') for a in args)
    if origin in (types.UnionType, typing.Union):
        return " \\| ".join(_type_name(a) for a in args if a is not type(None)) + " (optional)"
    if origin is list:
        return f"list of {_type_name(args[0])}"
    if origin is dict:
        return f"map {_type_name(args[0])} -> {_type_name(args[1])}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"object ({annotation.__name__})"
    return getattr(annotation, "__name__", str(annotation))


def _nested(annotation: Any) -> tuple[str, type[BaseModel]] | None:
    """(path step, model) when a field holds objects of a model: itself, optional, in a list or as map values."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _nested(args[0])
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return ".", annotation
    if origin in (types.UnionType, typing.Union):
        found = [n for a in args if (n := _nested(a))]
        return found[0] if len(found) == 1 else None
    if origin is list and (inner := _nested(args[0])):
        return "[].", inner[1]
    if origin is dict and (inner := _nested(args[1])):
        return ".<key>.", inner[1]
    return None


def _rows(model: type[BaseModel], prefix: str = "") -> list[str]:
    rows = []
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        rows.append(f"| `{path}` | {_type_name(info.annotation)} | {info.description or ''} |")
        if nested := _nested(info.annotation):
            rows += _rows(nested[1], path + nested[0])
    return rows


def field_table(*models: type[BaseModel]) -> str:
    """A Markdown table of every field (nested ones by path) with its type and description."""
    lines = ["| field | type | meaning |", "|---|---|---|"]
    for model in models:
        lines.append(f"| **{model.__name__}** | | {(model.__doc__ or '').strip().splitlines()[0]} |")
        lines += _rows(model)
    return "\n".join(lines)


def render(text: str, models: tuple[type[BaseModel], ...] = (Prediction, Failure)) -> str:
    """``text`` with the block between the markers replaced by the current table."""
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    if not rest:
        raise ValueError(f"the file has no {BEGIN!r} marker")
    return f"{head}{BEGIN}\n{field_table(*models)}\n{END}{tail}"


if __name__ == "__main__":
    target = Path(sys.argv[1])
    target.write_text(render(target.read_text()))
