"""docs/cli.md, generated from the CLI itself, so the reference says what `--help` says.

It walks the typer app's own declarations (the commands in `--help` order,
each one's signature of `typer.Option` / `typer.Argument` values) rather
than the click tree typer builds from them, whose classes change between
typer versions. Each command gets its docstring (prose as text, indented
example lines as a shell block), a usage line and a table of its arguments
and options: value, default, help as a terminal shows it (rich markup
removed). `tests/test_docs.py` fails when the committed file differs;
regenerate it with

    python scripts/gen_cli_docs.py
"""

from __future__ import annotations

import enum
import inspect
import typing
from pathlib import Path

import typer
from typer.models import ArgumentInfo, OptionInfo

REGENERATE = "python scripts/gen_cli_docs.py"
HEADER = f"""# Command-line reference

Generated from the CLI's own help by `{REGENERATE}`; do not edit it by hand
(`tests/test_docs.py` fails when this file and the CLI disagree). Every command
answers `-h` / `--help` with the same text. How to query, filter and choose an
output format is explained in [cli-queries.md](cli-queries.md).
"""
VALUE_NAMES = {str: "text", int: "integer", float: "number", Path: "path", bool: "flag"}


def cli_reference(app: typer.Typer, program: str = "embedsearch") -> str:
    """The whole reference as Markdown: one section per command, in `--help` order."""
    commands = list(command_paths(app, program))
    contents = ["| command | what it does |", "|---|---|"]
    contents += [f"| [`{path}`](#{_anchor(path)}) | {_cell(plain(docstring).split(chr(10))[0])} |"
                 for path, _, docstring in commands]
    sections = [HEADER, "\n".join(contents) + "\n"]
    sections += [_command_section(path, callback, docstring) for path, callback, docstring in commands]
    return "\n".join(sections).rstrip("\n") + "\n"


def _anchor(path: str) -> str:
    """The id GitHub gives the heading `## `embedsearch train attention``."""
    return path.replace(" ", "-")


def command_paths(app: typer.Typer, prefix: str = "embedsearch"):
    """(`embedsearch train attention`, callback, docstring) for every command, sub-apps included."""
    for command in app.registered_commands:
        if command.hidden:
            continue
        name = command.name or command.callback.__name__.replace("_", "-")
        yield f"{prefix} {name}", command.callback, inspect.getdoc(command.callback) or ""
    for group in app.registered_groups:
        yield from command_paths(group.typer_instance, f"{prefix} {group.name}")


def parameters(callback) -> list[tuple[str, typing.Any, OptionInfo | ArgumentInfo]]:
    """(Python name, annotation, typer declaration) of each argument and option of a command."""
    hints = typing.get_type_hints(callback)
    return [(name, hints.get(name, str), parameter.default)
            for name, parameter in inspect.signature(callback).parameters.items()
            if isinstance(parameter.default, (OptionInfo, ArgumentInfo))]


def option_names(name: str, declaration: OptionInfo) -> list[str]:
    """`--skip-gram/--cbow` -> ["--skip-gram", "--cbow"]; no declaration: --python-name."""
    names = [part for decl in declaration.param_decls for part in decl.split("/")]
    return [n.strip() for n in names] or ["--" + name.replace("_", "-")]


def _command_section(path: str, callback, docstring: str) -> str:
    declared = parameters(callback)
    arguments = [_argument_usage(name, kind, declaration)
                 for name, kind, declaration in declared if isinstance(declaration, ArgumentInfo)]
    usage = " ".join([path, "[OPTIONS]"] + arguments)
    lines = [f"## `{path}`", "", *_docstring_markdown(docstring), "", f"Usage: `{usage}`", ""]
    if declared:
        lines += ["| argument or option | value | default | meaning |", "|---|---|---|---|"]
        lines += ["| " + " | ".join(_cell(c) for c in _row(*parameter)) + " |" for parameter in declared]
        lines.append("")
    return "\n".join(lines)


def _docstring_markdown(docstring: str) -> list[str]:
    """Prose lines as they are; each run of indented lines (the examples) as a shell block."""
    lines: list[str] = []
    in_code = False
    for line in plain(docstring).strip().splitlines():
        code = line.startswith((" ", "\t")) and bool(line.strip())
        if code != in_code:
            lines.append("```bash" if code else "```")
            in_code = code
        lines.append(line.strip() if code else line.rstrip())
    return lines + (["```"] if in_code else [])


def _argument_usage(name: str, kind, declaration: ArgumentInfo) -> str:
    text = name.upper() + ("..." if _is_list(kind) else "")
    return text if declaration.default is ... else f"[{text}]"


def _row(name: str, kind, declaration) -> tuple[str, str, str, str]:
    if isinstance(declaration, ArgumentInfo):
        names = f"`{name.upper()}`"
    else:
        names = ", ".join(f"`{n}`" for n in option_names(name, declaration))
    return names, _value(kind, declaration), _default(declaration), plain(declaration.help or "")


def _value(kind, declaration) -> str:
    """What a parameter takes: a type, a choice or a range; repeatable, or several."""
    many = _is_list(kind)
    kind = _bare(kind)
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        text = "|".join(str(member.value) for member in kind)
    else:
        text = VALUE_NAMES.get(kind, getattr(kind, "__name__", str(kind)))
        low, high = getattr(declaration, "min", None), getattr(declaration, "max", None)
        if low is not None and high is not None:
            text += f", {low} to {high}"
        elif low is not None:
            text += f" >= {low}"
        elif high is not None:
            text += f", at most {high}"
    if many:
        if isinstance(declaration, ArgumentInfo):
            text += ", one or more" if declaration.default is ... else ", any number"
        else:
            text += ", repeatable"
    return text


def _default(declaration) -> str:
    default = declaration.default
    if default is ...:
        text = "required"
    elif default is None or default is False or default == []:
        text = ""
    elif isinstance(default, enum.Enum):
        text = str(default.value)
    elif default is True and isinstance(declaration, OptionInfo):
        text = option_names("", declaration)[0]  # the flag that is on by default
    else:
        text = str(default)
    if getattr(declaration, "envvar", None):
        text += f"{' ' if text else ''}(${declaration.envvar})"
    return text


def _is_list(kind) -> bool:
    return typing.get_origin(_bare(kind, unwrap_list=False)) in (list, tuple)


def _bare(kind, unwrap_list: bool = True):
    """`Optional[List[str]]` -> str (or List[str] with unwrap_list=False)."""
    if typing.get_origin(kind) is typing.Union:
        kind = next(arg for arg in typing.get_args(kind) if arg is not type(None))
    if unwrap_list and typing.get_origin(kind) in (list, tuple):
        kind = typing.get_args(kind)[0]
    return kind


def plain(text: str) -> str:
    """The text a terminal shows: rich markup and its escapes removed."""
    from rich.text import Text

    return Text.from_markup(text).plain


def _cell(text: str) -> str:
    """A table cell: one line, pipes and angle brackets escaped."""
    return " ".join(text.split()).replace("|", "\\|").replace("<", "&lt;")
