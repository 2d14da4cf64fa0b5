"""Nearest neighbours of a word, a text, an item key or a raw vector; one query or many.

The query's own items (the word itself, the words of a text) are never
among its answers, as in gensim's `most_similar`. Many queries resolve
their terms together and go to the index in ONE search call, so FAISS
spreads them over its threads.

    [hit.key for hit in neighbors(index, "computer", k=3)]
    # ['computers', 'software', 'technology']
    [hits[0].key for hits in neighbors_batch(index, ["king", "paris"], k=1)]
    # ['prince', 'france']
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import InputError
from ..index import Index
from ..vectors import normalize_rows
from .answers import Hits
from .terms import resolve_terms


def neighbors(index: Index, query: str | None = None, *, vector: np.ndarray | None = None,
              k: int = 10, where: str | None = None, strict: bool = False) -> Hits:
    """The k items nearest a word, text, item key or raw vector (the query's items excluded)."""
    if vector is not None:
        return Hits(index.search(normalize_rows(vector), k, where=where)[0])
    return neighbors_batch(index, [query], k=k, where=where, strict=strict)[0]


def neighbors_batch(index: Index, queries: Sequence[str], *, k: int = 10,
                    where: str | None = None, strict: bool = False) -> list[Hits]:
    """The k nearest items of each query, answered in one index search; unknown words per query."""
    if any(query is None or not str(query).strip() for query in queries):
        raise InputError("give a word, a text or an item key to search for")
    if not queries:
        return []
    terms = resolve_terms(index, list(queries), strict=strict)
    found = index.search(np.stack([term.vector for term in terms]), k, where=where,
                         exclude=[term.ids for term in terms])
    return [Hits(hits, term.ignored) for hits, term in zip(found, terms)]
