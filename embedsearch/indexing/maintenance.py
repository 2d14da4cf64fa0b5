"""Changing an existing index without re-encoding: reindex, compact, delete by key.

All three go through `IndexWriter`, so each is one atomic version: an
interrupted reindex leaves the previous index live and usable.

    reindex("glove", "hnsw", recall=0.95)
    compact("glove")
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

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


class NothingChanged(Exception):
    """Raised inside `update_if_changed` to discard the writer's copy instead of publishing it."""


@contextmanager
def update_if_changed(name_or_path: str | Path) -> Iterator[IndexWriter]:
    """`IndexWriter.update`, except that raising `NothingChanged` in the block publishes nothing:
    a write that changes nothing must not make every reader open a new version.

        with update_if_changed("notes") as writer:
            if not writer.items.ids_for_keys(keys):
                raise NothingChanged
    """
    writer = IndexWriter.update(name_or_path)
    try:
        yield writer
    except NothingChanged:
        writer.abort()
        return
    except BaseException:
        writer.abort()
        raise
    writer.commit()


def delete_keys(name_or_path: str | Path, keys: Sequence[str]) -> tuple[int, list[str]]:
    """Delete items by key; returns (deleted count, keys that were not in the index).
    Deleting only missing keys publishes no new version."""
    found: dict[str, int] = {}
    deleted = 0
    with update_if_changed(name_or_path) as writer:
        found = writer.items.ids_for_keys(list(keys))
        if not found:
            raise NothingChanged
        deleted = writer.delete(keys=list(found))
    return deleted, [key for key in keys if key not in found]
