"""Nearest neighbours of a word, a text, an item key or a raw vector.

The query's own items (the word itself, the words of a text) are never
among its answers, as in gensim's `most_similar`.

    [hit.key for hit in neighbors(index, "computer", k=3)]
    # ['computers', 'software', 'technology']
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..index import Hit, Index
from ..vectors import normalize_rows
from .terms import resolve_terms


def neighbors(index: Index, query: str | None = None, *, vector: np.ndarray | None = None,
              k: int = 10, where: str | None = None) -> list[Hit]:
    """The k items nearest a word, text, item key or raw vector (the query's items excluded)."""
    if vector is not None:
        return index.search(normalize_rows(vector), k, where=where)[0]
    if query is None or not query.strip():
        raise InputError("give a word, a text or an item key to search for")
    term = resolve_terms(index, [query])[0]
    return index.search(term.vector, k, where=where, exclude=[term.ids])[0]
