"""Text search over a corpus index by vector, keyword (BM25) or both (hybrid), answered as documents.

Each mode ranks chunks: `vector` by cosine (FAISS), `keyword` by BM25 over
the full-text index (`index.fulltext`), `hybrid` fuses the two lists
(`fusion`). A filter (`where`) applies inside both searches, never after.
By default the chunks are then grouped by their document: the best chunk
stands for its document, and candidates are fetched deeper until k distinct
documents are found or the lists run out. Every hit says how it was found
(its rank and score in each list) and carries a snippet of its text around
the query's words.

    hits = search(index, "how do I reset my password", k=5)
    hits[0].key, hits[0].keyword_rank, hits[0].vector_rank, hits.search["mode"]
    # ('faq/accounts.md', 1, 3, 'hybrid')
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Sequence

from ..errors import InputError
from ..index import Hit, Index
from ..index.bm25_impacts import INLINE_BUILD_ITEMS, Bm25Impacts
from ..index.fulltext import has_fulltext, keyword_search, query_words, table_tokenizer
from ..index.items import ITEMS_FILE, select_in
from .types import Hits
from .fusion import Fusion, fuse
from .snippets import snippet
from .terms import Term, resolve_terms

MODES = ("vector", "keyword", "hybrid")
# Candidates fetched from each list at first, per query (more when grouping needs them);
# chosen on held-out known-item tasks (docs/search.md).
DEFAULT_DEPTH = 100
MAX_DEPTH = 10_000


@dataclass
class SearchHit(Hit):
    """A hit of a text search: the chunk (id), what it stands for, and how it was found.

    `key` is the document's key when hits are grouped by document (the
    chunk's own key is `item_key`); `start`/`end` are the chunk's character
    offsets in its document's text; a rank or score is None for a list the
    hit was not in.
    """

    item_key: str = ""
    document: str = ""
    chunk: int = 1
    start: int = 0
    end: int = 0
    vector_rank: int | None = None
    vector_score: float | None = None
    keyword_rank: int | None = None
    keyword_score: float | None = None
    snippet: str = ""
    highlights: list[tuple[int, int]] = field(default_factory=list)


def search_hit_fields(hit: SearchHit) -> dict:
    """The JSON fields a text-search hit adds to a plain hit (see `results.hits_payload`)."""
    def found(rank, score):
        return None if rank is None else {"rank": rank, "score": round(score, 6)}

    return {"document": hit.document, "item_key": hit.item_key, "chunk": hit.chunk,
            "start": hit.start, "end": hit.end, "snippet": hit.snippet,
            "highlights": [list(span) for span in hit.highlights],
            "vector": found(hit.vector_rank, hit.vector_score),
            "keyword": found(hit.keyword_rank, hit.keyword_score)}


class SearchHits(Hits):
    """Hits of a text search, with `search`: the mode and fusion that produced them."""

    def __init__(self, hits=(), ignored=(), search: dict | None = None):
        super().__init__(hits, ignored)
        self.search = dict(search or {})


def check_mode(mode: str) -> None:
    if mode not in MODES:
        raise InputError(f"unknown search mode {mode!r}: use vector, keyword or hybrid")


def default_mode(index: Index) -> str:
    """hybrid on a corpus index with a full-text index; vector otherwise."""
    return "hybrid" if index.manifest.content == "corpus" and index_has_fulltext(index) else "vector"


def index_has_fulltext(index: Index) -> bool:
    found = getattr(index, "_has_fulltext", None)
    if found is None:
        found = index._has_fulltext = has_fulltext(index.items.connection)
    return found


def keyword_impacts(index: Index) -> Bm25Impacts | None:
    """The index version's BM25 impact matrix, which answers keyword queries without scoring
    every match; None where it cannot be made, or while a large index's is being made in the
    background (FTS5 then answers alone, and the next query looks again)."""
    found = getattr(index, "_keyword_impacts", None)
    if found is None:
        tokenizer = table_tokenizer(index.items.connection)
        try:
            found = tokenizer is not None and Bm25Impacts.open(
                index.version_dir, index.version_dir / ITEMS_FILE, tokenizer,
                index.manifest.files.get(ITEMS_FILE, {}).get("crc32"),
                wait=index.count < INLINE_BUILD_ITEMS)
        except (sqlite3.Error, OSError):
            found = False
        if found is not None:
            index._keyword_impacts = found
    return found or None


def _check_keyword_ready(index: Index, mode: str) -> None:
    if mode == "vector":
        return
    if index.manifest.content != "corpus":
        raise InputError(f"index {index.name} holds word vectors, not texts: {mode} search needs "
                         "a corpus index (`embedsearch build --corpus ...`); use `mode='vector'`")
    if not index_has_fulltext(index):
        raise InputError(f"index {index.name} was built before keyword search and has no "
                         f"full-text index: run `embedsearch compact {index.name}` (or rebuild "
                         "it) to add one, or use `mode='vector'`")


def search_settings(mode: str | None = None, fusion: str | None = None,
                    alpha: float | None = None, chunks: bool = False) -> dict:
    """`search_batch`'s settings from an interface's flat options (CLI, HTTP), checked;
    a fusion method or weight left out takes the default (the weight: the index's encoder's)."""
    if mode is not None:
        check_mode(mode)
    return {"mode": mode, "chunks": chunks,
            "fusion": Fusion(fusion or Fusion().method, alpha)}


def search(index: Index, query: str, **options) -> SearchHits:
    """`search_batch` for one query."""
    return search_batch(index, [query], **options)[0]


def search_batch(index: Index, queries: Sequence[str], *, k: int = 10, mode: str | None = None,
                 where=None, exclude: Sequence[str] = (), strict: bool = False,
                 fusion: Fusion | None = None, depth: int = DEFAULT_DEPTH,
                 chunks: bool = False) -> list[SearchHits]:
    """The k best documents (or chunks, with `chunks`) for each text query.

    `mode` is vector, keyword or hybrid (default: hybrid where the index has
    a full-text index); `fusion` how hybrid fuses (default `Fusion()`, its weight
    the one chosen for the index's encoder);
    `depth` how many candidates each list gives at first. `where` filters
    inside both searches; `exclude` lists item keys never to return.
    """
    mode = mode or default_mode(index)
    check_mode(mode)
    fusion = (fusion or Fusion()).for_encoder(index.manifest.encoder.name)
    if not isinstance(depth, int) or not 1 <= depth <= MAX_DEPTH:
        raise InputError(f"the candidate depth must be from 1 to {MAX_DEPTH}, not {depth}")
    if any(not isinstance(text, str) or not text.strip() for text in queries):
        raise InputError("a query in the batch is empty: give a text to search for")
    _check_keyword_ready(index, mode)
    record = {"mode": mode, "documents": not chunks, "depth": depth}
    if mode == "hybrid":
        record["fusion"] = fusion.as_dict()
    excluded = set(index.ids_for_keys(list(exclude)).values()) if exclude else set()
    terms = _resolve(index, list(queries), strict, tolerant=mode == "hybrid" and not strict) \
        if mode != "keyword" else None
    allowed = index.ids_where(where) if where and mode != "vector" else None
    answers: list[SearchHits | None] = [None] * len(queries)
    pending = list(range(len(queries)))
    wanted = max(depth, k)
    while pending:
        vector_lists = _vector_lists(index, terms, pending, wanted, where, excluded) \
            if mode != "keyword" else {row: {} for row in pending}
        keyword_lists = {row: _keyword_list(index, queries[row], wanted, allowed, excluded,
                                            terms[row].ids if terms and terms[row] else set())
                         for row in pending} if mode != "vector" else {row: {} for row in pending}
        deeper = []
        for row in pending:
            vector, keyword = vector_lists[row], keyword_lists[row]
            ranked = (vector if mode == "vector" else keyword if mode == "keyword"
                      else fuse(vector, keyword, fusion))
            hits = _ranked_hits(index, ranked, vector, keyword, k, grouped=not chunks)
            exhausted = len(vector) < wanted and len(keyword) < wanted
            if len(hits) < k and not exhausted and wanted < min(index.count, MAX_DEPTH):
                deeper.append(row)
                continue
            _add_snippets(index, hits, queries[row])
            ignored = terms[row].ignored if terms and terms[row] else []
            answers[row] = SearchHits(hits, ignored, record)
        pending = deeper
        wanted = min(wanted * 4, MAX_DEPTH)
    return answers


def _resolve(index: Index, queries: list[str], strict: bool, tolerant: bool) -> list[Term | None]:
    """The queries' terms; with `tolerant` (hybrid), None for a query the encoder cannot
    encode (no known word), which then answers from keywords alone."""
    return resolve_terms(index, queries, strict=strict, unencodable_as_none=tolerant)


def _vector_lists(index: Index, terms, rows: list[int], wanted: int, where,
                  excluded: set[int]) -> dict[int, dict[int, float]]:
    """row -> {id: cosine} best first, for the vector search of each of `rows`."""
    import numpy as np

    lists = {row: {} for row in rows}
    rows = [row for row in rows if terms[row] is not None]
    if not rows:
        return lists
    vectors = np.stack([terms[row].vector for row in rows])
    found = index.search(vectors, wanted, where=where,
                         exclude=[excluded | terms[row].ids for row in rows])
    lists.update({row: {hit.id: hit.score for hit in hits} for row, hits in zip(rows, found)})
    return lists


def _keyword_list(index: Index, text: str, wanted: int, allowed, excluded: set[int],
                  own_items: set[int]) -> dict[int, float]:
    """{id: BM25 score} best first; nothing for a query that is an item's key."""
    if own_items:
        return {}
    skip = excluded | own_items
    found = keyword_search(index.items.connection, text, wanted + len(skip), allowed,
                           keyword_impacts(index))
    return {item: score for item, score in found if item not in skip}


def _ranked_hits(index: Index, ranked: dict[int, float], vector: dict[int, float],
                 keyword: dict[int, float], k: int, grouped: bool) -> list[SearchHit]:
    """The first k hits of `ranked` (id -> score, best first), one per document if `grouped`.

    Chunk places are read for a slice of the ranking at a time (k ids, then twice as many
    each time more documents are needed), not for every candidate.
    """
    vector_ranks = {item: rank for rank, item in enumerate(vector, start=1)}
    keyword_ranks = {item: rank for rank, item in enumerate(keyword, start=1)}
    ids = list(ranked)
    hits, seen = [], set()
    start, size = 0, k
    while start < len(ids) and len(hits) < k:
        part = ids[start:start + size]
        places = _chunk_places(index, part)
        for item in part:
            key, document, number, begin, end = places[item]
            if grouped:
                if document in seen:
                    continue
                seen.add(document)
            hits.append(SearchHit(item, document if grouped else key, ranked[item], item_key=key,
                                  document=document, chunk=number, start=begin, end=end,
                                  vector_rank=vector_ranks.get(item),
                                  vector_score=vector.get(item),
                                  keyword_rank=keyword_ranks.get(item),
                                  keyword_score=keyword.get(item)))
            if len(hits) == k:
                break
        start, size = start + size, size * 2
    return hits


def _chunk_places(index: Index, ids: list[int]) -> dict[int, tuple[str, str, int, int, int]]:
    """id -> (key, document key, chunk number, start, end); an unchunked item is its own document."""
    columns = ("id, key, json_extract(metadata, '$.chunk.document'), "
               "json_extract(metadata, '$.chunk.number'), json_extract(metadata, '$.chunk.start'), "
               "json_extract(metadata, '$.chunk.end'), length(text)")
    cursor = index.items.connection.cursor()
    cursor.row_factory = None
    places = {}
    for item, key, document, number, start, end, length in select_in(cursor, columns, "id", ids):
        places[item] = (key, document if document is not None else key,
                        number if number is not None else 1,
                        start if start is not None else 0, end if end is not None else length)
    return places


def _add_snippets(index: Index, hits: list[SearchHit], text: str) -> None:
    if not hits:
        return
    rows = index.items.rows([hit.id for hit in hits])
    words = query_words(text)
    for hit in hits:
        hit.snippet, hit.highlights = snippet(rows[hit.id]["text"], words)

