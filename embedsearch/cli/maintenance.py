"""Index upkeep without re-encoding: reindex (another FAISS type), compact, delete."""

from __future__ import annotations

from typing import List, Optional

import typer

from .app import app
from .options import JsonOption, MaxMemoryOption, ParamOption, RecallOption, VectorDtype
from .printing import index_summary, print_json


@app.command()
def reindex(
    index: str = typer.Argument(..., help="Index name or path."),
    index_type: str = typer.Option(
        ..., "--type", "-t", help="flat, hnsw, ivfsq8, ivfpq, auto, or factory:STRING."),
    recall: Optional[float] = RecallOption,
    max_memory: Optional[str] = MaxMemoryOption,
    params: Optional[List[str]] = ParamOption,
    vector_dtype: Optional[VectorDtype] = typer.Option(
        None, "--vector-dtype", help="Store the raw vectors as float32 or float16 (half the disk)."),
    as_json: bool = JsonOption,
):
    """Change an index's FAISS type from its stored vectors, without re-encoding.

    Atomic: if it is interrupted the previous index stays live.

    Examples:
      embedsearch reindex glove-6b-50d --type hnsw --recall 0.95
      embedsearch reindex notes --type "factory:IVF256,PQ16" --param nprobe=32
    """
    from ..index.faiss_types import parse_params
    from ..indexing.maintenance import reindex as reindex_index
    from ..index.tuning import parse_size

    manifest = reindex_index(index, index_type, index_params=parse_params(params), recall=recall,
                             max_memory=parse_size(max_memory),
                             vector_dtype=vector_dtype.value if vector_dtype else None)
    if as_json:
        print_json({"index_type": manifest.index_type, "index_params": manifest.index_params,
                    "tuning": manifest.tuning, "count": manifest.count})
    else:
        typer.echo(f"reindexed {index}: {manifest.count:,} items")
        typer.echo(index_summary(manifest))


@app.command()
def compact(index: str = typer.Argument(..., help="Index name or path.")):
    """Rebuild an index without the tombstones of deleted items (`info` says when it is due).

    Example:
      embedsearch compact notes
    """
    from ..indexing.maintenance import compact as compact_index

    dropped, manifest = compact_index(index)
    typer.echo(f"compacted {index}: dropped {dropped:,} tombstones, {manifest.count:,} items")


@app.command()
def delete(
    index: str = typer.Argument(..., help="Index name or path."),
    keys: List[str] = typer.Argument(..., help="Keys of the items to delete."),
):
    """Delete items by key.

    Example:
      embedsearch delete notes notes.txt:12 notes.txt:13
    """
    from ..indexing.maintenance import delete_keys

    deleted, missing = delete_keys(index, keys)
    typer.echo(f"deleted {deleted:,} items from {index}")
    if missing:
        typer.echo(f"not in the index: {', '.join(missing[:10])}", err=True)
