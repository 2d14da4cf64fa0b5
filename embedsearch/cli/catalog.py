"""Commands that read what indexes there are: info (one index), list (all of them)."""

from __future__ import annotations

import typer

from .app import app
from .options import JsonOption
from .printing import print_index_info, print_index_list, print_json


@app.command()
def info(index: str = typer.Argument(..., help="Index name or path."), as_json: bool = JsonOption):
    """What an index holds and how it was built.

    Example:
      embedsearch info glove-6b-50d
    """
    from ..index import Index
    from ..index.catalog import index_info

    with Index.open(index) as opened:
        details = index_info(opened)
    if as_json:
        print_json(details)
    else:
        print_index_info(details)


@app.command("list")
def list_indexes(as_json: bool = JsonOption):
    """The indexes under indexes/ (or $EMBEDSEARCH_HOME).

    Example:
      embedsearch list
    """
    from ..index import indexes_home
    from ..index.catalog import list_indexes

    home = indexes_home()
    entries = list_indexes(home)
    if as_json:
        print_json(entries)
    elif not entries:
        typer.echo(f"no indexes under {home}")
    else:
        print_index_list(entries)
