"""Nearest neighbours of a word, a text, an item key or a raw vector.

The query's own items (the word itself, the words of a text) are never
among its answers, as in gensim's `most_similar`.

    [hit.key for hit in neighbors(index, "computer", k=3)]
    # ['computers', 'software', 'technology']
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import InputError
from ..index import Hit, Index
from ..vectors import normalize_rows
from .terms import resolve_terms


def neighbors(index: Index, query: str | None = None, *, vector: np.ndarray | None = None,
              k: int = 10, where=None, exclude: Sequence[str] = ()) -> list[Hit]:
    """The k items nearest a word, text, item key or raw vector (the query's items excluded).

    `where` is a SQL condition or a `index.filters.Where` (e.g. a JSON filter
    from `parse_filter`); `exclude` lists item keys never to return.
    """
    if vector is not None:
        return neighbors_batch(index, [np.asarray(vector, dtype=np.float32).reshape(-1)], k=k,
                               where=where, exclude=exclude)[0]
    if query is None or not query.strip():
        raise InputError("give a word, a text or an item key to search for")
    return neighbors_batch(index, [query], k=k, where=where, exclude=exclude)[0]


def neighbors_batch(index: Index, queries: Sequence[str | np.ndarray], *, k: int = 10,
                    where=None, exclude: Sequence[str] = ()) -> list[list[Hit]]:
    """Neighbours of many queries (words, texts, keys or raw vectors) in one search.

    The terms are resolved together and every query goes to FAISS in one
    call, which spreads a large batch over its threads. `exclude` lists item
    keys no query may be answered with.
    """
    if not queries:
        return []
    texts = [(row, q) for row, q in enumerate(queries) if isinstance(q, str)]
    if any(not text.strip() for _, text in texts):
        raise InputError("a query in the batch is empty: give a word, a text, an item key or a vector")
    vectors = np.zeros((len(queries), index.dim), dtype=np.float32)
    excluded = set(index.ids_for_keys(list(exclude)).values()) if exclude else set()
    own_items: list[set[int]] = [set(excluded) for _ in queries]
    for (row, _), term in zip(texts, resolve_terms(index, [text for _, text in texts])):
        vectors[row] = term.vector
        own_items[row] |= term.ids
    for row, query in enumerate(queries):
        if not isinstance(query, str):
            vector = np.asarray(query, dtype=np.float32)
            if vector.shape != (index.dim,):
                raise InputError(f"query {row} is a vector of shape {vector.shape}; "
                                 f"index {index.name} has dimension {index.dim}")
            vectors[row] = normalize_rows(vector)
    return index.search(vectors, k, where=where, exclude=own_items)
