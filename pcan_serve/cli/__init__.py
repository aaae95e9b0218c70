"""The `pcan` command (``app`` in :mod:`.root`). Importing this package mounts nothing, so a stage's own command
module may import its neighbours here (``cli.errors``) while the root app loads it."""

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "app":
        from .root import app

        return app
    raise AttributeError(f"module 'pcan_serve.cli' has no attribute {name!r}")


def main() -> None:
    from .root import main as run

    run()
