"""The CLI's one error table: which errors end a command with which exit code, and how they are said.

Exit codes of every ``pcan`` command: 0 success; 1 an item or a verification failed (its row or report is still
written); 2 the command cannot start: a usage mistake, or a model, manifest, device or runtime that is not there.
Item errors (a bad video or skeleton) never end a run: they become that item's error row.
"""

from typing import NoReturn

import typer
from rich.console import Console

from ..errors import (
    BackendUnavailable,
    CheckpointError,
    InvalidManifest,
    InvalidRequest,
    MissingInput,
    PayloadTooLarge,
    PCANError,
)

USAGE = 2
FAILED = 1

err = Console(stderr=True, soft_wrap=True)  # a long path stays on one line: messages are grep-able


class UsageError(Exception):
    """A mistake in the command line itself: flags that contradict each other, a value of the wrong form."""


# Before any item runs, these mean the command cannot do its work: exit 2. (First match by class, in order.)
EXIT_CODES: tuple[tuple[type[BaseException], int], ...] = (
    (UsageError, USAGE),
    (CheckpointError, USAGE),
    (BackendUnavailable, USAGE),
    (InvalidManifest, USAGE),
    (InvalidRequest, USAGE),
    (MissingInput, USAGE),
    (PayloadTooLarge, USAGE),
    (PCANError, FAILED),
)


def exit_code(exc: BaseException) -> int:
    """The exit code of a command that stopped on ``exc`` before or outside its items; re-raises an error that
    is not in the table (a bug, whose traceback should be seen)."""
    for kind, code in EXIT_CODES:
        if isinstance(exc, kind):
            return code
    raise exc


def fail(message: str, code: int = USAGE) -> NoReturn:
    """One red line on stderr, then exit ``code``."""
    err.print(f"[red]error:[/red] {message}", soft_wrap=True)
    raise typer.Exit(code)


def stop(exc: BaseException) -> NoReturn:
    """End the command on a known error with its one line and exit code; anything else is a bug and raises."""
    fail(str(exc), exit_code(exc))
