"""Commands that read what indexes there are: info (one index), list (all of them)."""

from __future__ import annotations

import json

import typer

from .app import app
from .printing import print_json, print_table

JsonOption = typer.Option(False, "--json", help="Print JSON instead of a table.")


@app.command()
def info(index: str = typer.Argument(..., help="Index name or path."), as_json: bool = JsonOption):
    """What an index holds and how it was built.

    Example:
      embedsearch info glove-6b-50d
    """
    from ..index.catalog import index_info

    from ..index import Index

    with Index.open(index) as opened:
        manifest = index_info(opened)
    if as_json:
        print_json(manifest)
        return
    encoder = manifest.pop("encoder")
    for key in ("path", "version", "content", "count", "dim", "metric", "index_type"):
        typer.echo(f"{key:>12}: {manifest[key]}")
    typer.echo(f"{'params':>12}: {json.dumps(manifest['index_params'])}")
    from ..index.describe import maintenance_lines

    for label, text in maintenance_lines(opened.manifest):
        typer.echo(f"{label:>12}: {text}")
    typer.echo(f"{'encoder':>12}: {encoder['name']} ({encoder['kind']}, {encoder['spec']})")
    typer.echo(f"{'fingerprint':>12}: {encoder['fingerprint']}")
    typer.echo(f"{'size':>12}: {manifest['size_bytes'] / 1e6:.1f} MB")
    typer.echo(f"{'updated':>12}: {manifest['updated_at']}")


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
        print_table(["name", "items", "dim", "content", "encoder", "type"],
                    [[e["name"], e.get("count", "-"), e.get("dim", "-"), e.get("content", "-"),
                      e.get("encoder", e.get("error", "")), e.get("index_type", "-")] for e in entries])
