"""`embedsearch export`: an index to a Qdrant collection or to standard files."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .app import app


@app.command()
def export(
    index: str = typer.Argument(..., help="Index name (under indexes/) or path."),
    to: str = typer.Option(..., "--to", help="qdrant, word2vec, npy or parquet."),
    path: Optional[Path] = typer.Option(
        None, "--path", help="Where to write: a Qdrant local-mode folder, a word2vec file "
                             "(binary if it ends in .bin), an npy folder or a Parquet file."),
    url: Optional[str] = typer.Option(None, "--url", help="Qdrant: the server, e.g. "
                                                          "http://localhost:6333."),
    collection: Optional[str] = typer.Option(
        None, "--collection", help="Qdrant: the collection (default: the index name)."),
):
    """Export an index's vectors and items; re-running a Qdrant export replaces, never duplicates.

    Examples:
      embedsearch export notes --to qdrant --url http://localhost:6333 --collection notes
      embedsearch export notes --to qdrant --path qdrant-data
      embedsearch export glove-6b-50d --to word2vec --path glove.bin
      embedsearch export notes --to parquet --path notes.parquet
    """
    from ..errors import InputError
    from ..export import EXPORTERS, export_index
    from ..index import Index

    if to not in EXPORTERS:
        raise InputError(f"unknown --to {to!r}: use one of {', '.join(EXPORTERS)}")
    if to == "qdrant":
        if (path is None) == (url is None):
            raise InputError("--to qdrant needs either --path (local mode) or --url")
        options = dict(path=path, url=url, collection=collection)
    else:
        if path is None or url is not None or collection is not None:
            raise InputError(f"--to {to} writes files: give --path (not --url or --collection)")
        options = dict(path=path)
    with Index.open(index) as opened:
        report = export_index(opened, to, **options)
    for line in report.lines():
        typer.echo(line)
