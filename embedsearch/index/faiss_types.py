"""FAISS index types by name: how to create, read and search each one.

Every type stores unit vectors under their item ids (an `IndexIDMap2`, or an
index that takes ids itself) and scores by inner product, which on unit
vectors is cosine similarity. Adding a type means one entry in `INDEX_TYPES`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import faiss
import numpy as np

from ..errors import InputError

FAISS_FILE = "index.faiss"


@dataclass(frozen=True)
class IndexType:
    """How to make one kind of FAISS index, and how it may be read from disk."""

    create: Callable[[int, dict], faiss.Index]
    read_flags: int = 0
    needs_training: bool = False


def _flat(dim: int, params: dict) -> faiss.Index:
    return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))


INDEX_TYPES: dict[str, IndexType] = {
    # Flat codes can be memory-mapped: a 400,000 x 50 index opens in milliseconds.
    "flat": IndexType(_flat, read_flags=faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY),
}


def index_type(name: str) -> IndexType:
    try:
        return INDEX_TYPES[name]
    except KeyError:
        raise InputError(
            f"unknown index type {name!r}: use one of {', '.join(sorted(INDEX_TYPES))}"
        ) from None


def create_faiss_index(name: str, dim: int, params: dict | None = None) -> faiss.Index:
    return index_type(name).create(dim, params or {})


def read_faiss_index(path: Path, name: str, *, writable: bool = False) -> faiss.Index:
    flags = 0 if writable else index_type(name).read_flags
    return faiss.read_index(str(path), flags)


def search_parameters(selector: faiss.IDSelector | None, params: dict | None = None):
    """Search parameters restricting the search to `selector`'s ids (None: all)."""
    if selector is None:
        return None
    return faiss.SearchParameters(sel=selector)


def id_selector(ids: np.ndarray) -> faiss.IDSelector:
    """A FAISS selector for a set of item ids (filters run inside the search)."""
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    # IDSelectorBatch copies the ids into its own hash set.
    return faiss.IDSelectorBatch(len(ids), faiss.swig_ptr(ids))
