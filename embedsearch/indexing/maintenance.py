"""Changing an existing index without re-encoding: reindex, compact, delete by key.

All three go through `IndexWriter`, so each is one atomic version: an
interrupted reindex leaves the previous index live and usable.

    reindex("glove", "hnsw", recall=0.95)
    compact("glove")
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..index import versions
from ..index.manifest import Manifest
from ..index.paths import resolve_index_path
from ..index.writer import IndexWriter


def reindex(name_or_path: str | Path, index_type: str, *, index_params: dict | None = None,
            recall: float | None = None, max_memory: int | None = None,
            vector_dtype: str | None = None) -> Manifest:
    """Rebuild the FAISS index as `index_type` from the stored vectors; returns the new manifest."""
    writer = IndexWriter.reindex(name_or_path, index_type=index_type, index_params=index_params,
                                 recall=recall, max_memory=max_memory, vector_dtype=vector_dtype)
    with writer:
        pass
    return writer.manifest


def compact(name_or_path: str | Path) -> tuple[int, Manifest]:
    """Rebuild the same index type without tombstones; returns (tombstones dropped, manifest)."""
    dropped = Manifest.read(versions.current_version(resolve_index_path(name_or_path))).tombstones
    writer = IndexWriter.reindex(name_or_path)
    with writer:
        pass
    return dropped, writer.manifest


def delete_keys(name_or_path: str | Path, keys: Sequence[str]) -> tuple[int, list[str]]:
    """Delete items by key; returns (deleted count, keys that were not in the index)."""
    with IndexWriter.update(name_or_path) as writer:
        found = writer.items.ids_for_keys(list(keys))
        deleted = writer.delete(keys=list(found))
    return deleted, [key for key in keys if key not in found]
