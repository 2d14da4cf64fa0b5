"""The `embedsearch` command: a thin layer that parses, calls one API function, prints.

Imports of numpy, FAISS, gensim and torch happen inside the commands, so a
query on a word index never pays for torch. Errors a user can cause become one
line on stderr and exit code 1; Ctrl-C exits 130 with the index untouched.
"""

from __future__ import annotations

import sys

import typer

from .app import app
# Importing these modules registers their commands on `app`, `train_app` or `eval_app`.
from . import commands, encoders, export, index_admin  # noqa: F401
from . import train_attention, train_token_position, eval_retrieval  # noqa: F401
from .train import train_app
from .evaluate import eval_app

app.add_typer(train_app, name="train")
app.add_typer(eval_app, name="eval")


def main() -> None:
    """Entry point: run the app, turning domain errors into one clear line."""
    from ..errors import EmbedsearchError

    try:
        # Outside standalone mode click returns a `typer.Exit` code instead of exiting.
        code = app(standalone_mode=False)
    except EmbedsearchError as error:
        typer.echo(f"error: {error}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        typer.echo("interrupted: nothing was changed", err=True)
        sys.exit(130)
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
    sys.exit(code if isinstance(code, int) else 0)


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
