"""Rows that arrive in any order, written in input order: what a distributed run needs to keep ``--resume``
(any prefix of the output is a finished prefix of the input) and to write each item exactly once."""

from collections.abc import Callable
from typing import Any


class InOrder:
    """Holds rows that arrived before an earlier one and writes each row once, by its input index.

    A second row for an index already held or written (a retried task whose first attempt got through) is
    dropped, so a retry can never write an item twice.
    """

    def __init__(self, emit: Callable[[Any], None]) -> None:
        self._emit = emit
        self._next = 0
        self._held: dict[int, Any] = {}
        self.duplicates = 0

    @property
    def written(self) -> int:
        """Rows written so far, which is also the input index of the next row to write."""
        return self._next

    @property
    def held(self) -> int:
        return len(self._held)

    def push(self, index: int, row: Any) -> None:
        if index < self._next or index in self._held:
            self.duplicates += 1
            return
        self._held[index] = row
        while self._next in self._held:
            self._emit(self._held.pop(self._next))
            self._next += 1

    def missing(self, stop: int) -> list[int]:
        """Indices below ``stop`` that never arrived (empty when every row up to ``stop`` was written)."""
        return [i for i in range(self._next, stop) if i not in self._held]
