"""The `pcan` command's root app. Each stage declares its commands as a ``pcan.commands`` entry point in pyproject.toml
(a Typer app: one with a ``name`` is mounted as that group, one without joins its commands to the top level),
so this package names no stage above it, and a stage that is not installed (training without mmaction2) is
simply absent."""

from importlib.metadata import entry_points

import typer

from .predict import predict

ENTRY_POINTS = "pcan.commands"

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Train, export and serve PCAN.")
app.command(help="Classify videos (+ skeletons) into NTU-60 actions.")(predict)


def _mount() -> None:
    for entry in sorted(entry_points(group=ENTRY_POINTS), key=lambda e: e.name):
        try:
            sub = entry.load()
        except ModuleNotFoundError as exc:
            if exc.name and entry.value.startswith(exc.name.split(".")[0]):
                continue  # that stage is not part of this install
            raise
        if sub.info.name:
            app.add_typer(sub)
        else:
            app.registered_commands.extend(sub.registered_commands)
            app.registered_groups.extend(sub.registered_groups)


_mount()


def main() -> None:
    app()
