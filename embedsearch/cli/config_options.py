"""Typer options made from a training dataclass, so a model size or training option is declared once.

`config_options(training=AttentionTraining)` gives the decorated command one
option per `setting` field of the dataclass and of the dataclasses it holds
(its `model` config): `--dim`, `--epochs`, ... with the field's default, help
text and bounds. The command receives the filled dataclass as its `training`
argument. Fields without a help text are left at their defaults.

    @train_app.command("token-position")
    @config_options(training=TokenPositionTraining)
    def token_position(corpus: Path = typer.Option(...), *, training: TokenPositionTraining):
        ...
"""

from __future__ import annotations

import inspect
import typing
from dataclasses import MISSING, fields, is_dataclass

import typer

from .options import add_options


def settings_of(config_class, path: tuple[str, ...] = ()):
    """(path of field names, field, type) of every `setting` field, nested dataclasses included."""
    hints = typing.get_type_hints(config_class)
    for item in fields(config_class):
        if is_dataclass(hints[item.name]):
            yield from settings_of(hints[item.name], path + (item.name,))
        elif "help" in item.metadata:
            yield path + (item.name,), item, hints[item.name]


def build_config(config_class, values: dict[tuple[str, ...], object], path: tuple[str, ...] = ()):
    """An instance of `config_class` with the `values` given (by path); other fields keep defaults."""
    hints = typing.get_type_hints(config_class)
    arguments = {}
    for item in fields(config_class):
        here = path + (item.name,)
        if is_dataclass(hints[item.name]):
            arguments[item.name] = build_config(hints[item.name], values, here)
        elif here in values:
            arguments[item.name] = values[here]
    return config_class(**arguments)


def option_for(item, kind, flags: dict[str, str]):
    """The typer option of one dataclass field: its default, help and bounds.

    The help is escaped for rich, which would otherwise take `[...]` for markup.
    """
    from rich.markup import escape

    default = item.default if item.default is not MISSING else item.default_factory()
    declaration = flags.get(item.name, "--" + item.name.replace("_", "-"))
    bounds = {} if kind is bool else {"min": item.metadata.get("min"),
                                      "max": item.metadata.get("max")}
    return typer.Option(default, declaration, help=escape(item.metadata["help"]), **bounds)


def config_options(flags: dict[str, str] | None = None, **configs):
    """Decorator: one typer option per setting of each dataclass in `configs` (argument name -> class).

    `flags` renames an option (field name -> declaration, e.g. "--skip-gram/--cbow").
    """
    flags = flags or {}
    added, owners = [], {}
    for argument, config_class in configs.items():
        for path, item, kind in settings_of(config_class):
            if item.name in owners:
                raise TypeError(f"option {item.name!r} of {config_class.__name__} is declared twice")
            owners[item.name] = (argument, path)
            added.append(inspect.Parameter(item.name, inspect.Parameter.KEYWORD_ONLY,
                                           default=option_for(item, kind, flags), annotation=kind))

    def fill(options: dict) -> dict:
        values: dict[str, dict] = {argument: {} for argument in configs}
        for name, (argument, path) in owners.items():
            values[argument][path] = options.pop(name)
        return {argument: build_config(configs[argument], values[argument]) for argument in configs}

    def decorate(command):
        return add_options(command, added, fill, replaced=tuple(configs))

    return decorate
