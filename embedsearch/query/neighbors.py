"""Nearest neighbours of a word, a text, an item key or a raw vector; one query or many.

The query's own items (the word itself, the words of a text) are never
among its answers, as in gensim's `most_similar`. Many queries resolve
their terms together and go to the index in ONE search call, so FAISS
spreads them over its threads. Text queries on a corpus index go to
`search`: vector, keyword or hybrid (the default there), answered as
documents unless `chunks` is set; word queries on a vocabulary index and
raw vectors are answered by vectors, as they always were.

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
from .search import check_mode, search_batch
from .types import Hits
from .terms import resolve_terms


def neighbors(index: Index, query: str | None = None, *, vector: np.ndarray | None = None,
              k: int = 10, where=None, exclude: Sequence[str] = (), strict: bool = False,
              **search_options) -> Hits:
    """The k items nearest a word, text, item key or raw vector (the query's items excluded).

    `where` is a SQL condition or an `index.filters.Where` (e.g. a JSON filter
    from `parse_filter`); `exclude` lists item keys never to return; with
    `strict`, an unknown word in a text is an error rather than ignored.
    `mode`, `fusion`, `depth` and `chunks` are for text queries on a corpus
    index (see `search.search_batch`).
    """
    if vector is not None:
        return neighbors_batch(index, [np.asarray(vector, dtype=np.float32).reshape(-1)], k=k,
                               where=where, exclude=exclude, **search_options)[0]
    if query is None or not query.strip():
        raise InputError("give a word, a text or an item key to search for")
    return neighbors_batch(index, [query], k=k, where=where, exclude=exclude, strict=strict,
                           **search_options)[0]


def neighbors_batch(index: Index, queries: Sequence[str | np.ndarray], *, k: int = 10,
                    where=None, exclude: Sequence[str] = (), strict: bool = False,
                    mode: str | None = None, **search_options) -> list[Hits]:
    """Neighbours of many queries (words, texts, keys or raw vectors) in one search.

    The terms are resolved together and every query goes to FAISS in one
    call, which spreads a large batch over its threads. `exclude` lists item
    keys no query may be answered with; each answer says which words it ignored.
    """
    if not queries:
        return []
    if index.manifest.content == "corpus" and all(isinstance(q, str) for q in queries):
        return search_batch(index, queries, k=k, where=where, exclude=exclude, strict=strict,
                            mode=mode, **search_options)
    if mode not in (None, "vector"):
        check_mode(mode)
        raise InputError(f"index {index.name} holds word vectors, not texts: {mode} search "
                         "needs a corpus index (use `mode='vector'`)"
                         if index.manifest.content != "corpus" else
                         f"{mode} search takes text queries, not raw vectors")
    texts = [(row, q) for row, q in enumerate(queries) if isinstance(q, str)]
    if any(not text.strip() for _, text in texts):
        raise InputError("a query in the batch is empty: give a word, a text, an item key or a vector")
    vectors = np.zeros((len(queries), index.dim), dtype=np.float32)
    excluded = set(index.ids_for_keys(list(exclude)).values()) if exclude else set()
    own_items: list[set[int]] = [set(excluded) for _ in queries]
    ignored: list[list[str]] = [[] for _ in queries]
    for (row, _), term in zip(texts, resolve_terms(index, [text for _, text in texts],
                                                   strict=strict)):
        vectors[row] = term.vector
        own_items[row] |= term.ids
        ignored[row] = term.ignored
    for row, query in enumerate(queries):
        if not isinstance(query, str):
            vector = np.asarray(query, dtype=np.float32)
            if vector.shape != (index.dim,):
                raise InputError(f"query {row} is a vector of shape {vector.shape}; "
                                 f"index {index.name} has dimension {index.dim}")
            vectors[row] = normalize_rows(vector)
    found = index.search(vectors, k, where=where, exclude=own_items)
    return [Hits(hits, words) for hits, words in zip(found, ignored)]
