"""The rest of gensim's KeyedVectors query vocabulary: n_similarity, distances, closer_than, rank.

Each follows gensim's definition, which the tests check on the same
vectors: `n_similarity` is the cosine of the two sets' mean vectors,
`distances` is 1 - cosine, `closer_than(a, b)` the items nearer a than b is,
and `rank(a, b)` one more than their number.

    rank(index, "king", "prince")
    # 1
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import InputError
from ..index import Index
from ..vectors import normalize_rows
from .ranking import candidate_items
from .terms import resolve_terms

CHUNK_ROWS = 65536


def n_similarity(index: Index, first: Sequence[str], second: Sequence[str]) -> float:
    """Cosine similarity of the mean unit vectors of two lists of terms (gensim's n_similarity)."""
    if not first or not second:
        raise InputError("n_similarity needs at least one term on each side")
    vectors = [np.stack([t.vector for t in resolve_terms(index, list(side))]).mean(axis=0)
               for side in (first, second)]
    return float(normalize_rows(vectors[0]) @ normalize_rows(vectors[1]))


def distances(index: Index, term: str, others: Sequence[str] = ()) -> np.ndarray:
    """1 - cosine from `term` to each of `others`, or to every live item in id order if none."""
    vector = resolve_terms(index, [term])[0].vector
    if others:
        return 1 - np.stack([t.vector for t in resolve_terms(index, list(others))]) @ vector
    return 1 - _all_scores(index, vector)[1]


def closer_than(index: Index, first: str, second: str) -> list[str]:
    """Keys of the items nearer `first` than `second` is (gensim's closer_than), nearest first."""
    anchor, target = resolve_terms(index, [first, second])
    bound = float(anchor.vector @ target.vector)
    ids, scores = _all_scores(index, anchor.vector)
    keep = (scores > bound) & ~np.isin(ids, list(anchor.ids))
    ids, scores = ids[keep], scores[keep]
    order = np.lexsort((ids, -scores))
    keys = index.keys_of(ids[order])
    return [keys[int(i)] for i in ids[order]]


def rank(index: Index, first: str, second: str) -> int:
    """Where `second` comes among the neighbours of `first`: 1 + len(closer_than) (gensim's rank)."""
    return len(closer_than(index, first, second)) + 1


def _all_scores(index: Index, vector: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ids, cosines to `vector`) of every live item, exactly, whatever the index type."""
    id_blocks, score_blocks = [], []
    for ids, vectors in candidate_items(index).chunks(CHUNK_ROWS):
        id_blocks.append(ids)
        score_blocks.append(np.asarray(vectors, dtype=np.float32) @ vector)
    if not id_blocks:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    return np.concatenate(id_blocks), np.concatenate(score_blocks)
