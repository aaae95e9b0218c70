"""NTU RGB+D 60 class names in the dataset's official order (A001 ... A060 -> labels 0 ... 59)."""

from functools import cache
from importlib import resources


@cache
def ntu60_class_names() -> tuple[str, ...]:
    text = resources.files("pcan_serve").joinpath("ntu60_labels.txt").read_text(encoding="utf-8")
    names = tuple(line.strip() for line in text.splitlines() if line.strip())
    if len(names) != 60:
        raise RuntimeError(f"ntu60_labels.txt holds {len(names)} names, expected 60")
    return names
