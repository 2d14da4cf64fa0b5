"""The `embedsearch` command: a thin layer that parses, calls one API function, prints.

Imports of numpy, FAISS, gensim and torch happen inside the commands, so a
query on a word index never pays for torch. Errors a user can cause become one
line on stderr and exit code 1; Ctrl-C prints what was kept and exits 130.
"""

from __future__ import annotations

import sys

import typer

from .app import app
# Importing these modules registers their commands on `app`, `train_app` or `eval_app`:
# one module per group of commands, named after it, imported in the order `--help` lists them.
from . import build, queries, catalog, maintenance, encoders, export, serve  # noqa: F401,I001
from .eval import eval_app
from .train import train_app

app.add_typer(train_app, name="train")
app.add_typer(eval_app, name="eval")

INTERRUPTED = 130  # the exit code of a process stopped by SIGINT, as shells report it


def main() -> None:
    """Entry point: run the app, turning domain errors into one clear line."""
    from ..errors import EmbedsearchError
    from .errors import cli_message

    try:
        # Outside standalone mode click returns a `typer.Exit` code instead of exiting.
        code = app(standalone_mode=False)
    except EmbedsearchError as error:
        typer.echo(f"error: {cli_message(str(error))}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        _interrupted()
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(1)
    except Exception as error:  # click's usage errors arrive here in standalone_mode=False
        if not _is_usage_error(error):
            raise
        context = getattr(error, "ctx", None)
        hint = f" (see '{context.command_path} --help')" if context is not None else ""
        typer.echo(f"error: {error.format_message()}{hint}", err=True)
        sys.exit(error.exit_code)
    if code == INTERRUPTED:  # typer turns Ctrl-C into this exit code, silently
        _interrupted()
    sys.exit(code if isinstance(code, int) else 0)


def _interrupted() -> None:
    """Ctrl-C: say what was kept (a write is all or nothing) and exit 130, as shells expect."""
    typer.echo("interrupted: nothing half-written was kept; every index is at its last "
               "complete version", err=True)
    sys.exit(INTERRUPTED)


def _is_usage_error(error: Exception) -> bool:
    """Whether `error` is click's (a bad option value, an unknown option, ...).

    typer before 0.2x raises the click package's exceptions; later versions
    vendor click, and its exceptions derive from `typer.TyperException` instead.
    """
    classes = (typer.TyperException,) if hasattr(typer, "TyperException") else ()
    try:
        import click

        classes += (click.ClickException,)
    except ImportError:
        pass
    return isinstance(error, classes) and hasattr(error, "format_message")
