"""The `pcan` command. Sub-commands of other stages are mounted lazily so a missing optional stage
(e.g. training without mmaction2) does not break `pcan predict`."""

import importlib

import typer

from .predict import predict

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Train, export and serve PCAN.")
app.command(help="Classify videos (+ skeletons) into NTU-60 actions.")(predict)

# (module, attribute, how it is mounted)
_SUBAPPS = [
    ("export.cli", "app", "export"),
    ("training.cli", "app", None),
    ("benchmarks.cli", "app", None),
    ("pcan_serve.cli.serve", "app", None),
    ("pcan_serve.cli.pose", "app", None),
]


def _mount() -> None:
    for module, attr, name in _SUBAPPS:
        try:
            sub = getattr(importlib.import_module(module), attr)
        except ModuleNotFoundError as exc:
            if exc.name in (module, module.split(".")[0]):
                continue  # that stage is not part of this install
            raise
        if name is None:  # a Typer whose commands join the top level (pcan train, pcan bench, pcan serve)
            for command in sub.registered_commands:
                app.registered_commands.append(command)
            for group in sub.registered_groups:
                app.registered_groups.append(group)
        else:
            app.add_typer(sub, name=name)


_mount()


def main() -> None:
    app()
