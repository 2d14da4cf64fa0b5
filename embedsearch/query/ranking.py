"""The exact ranking engine: many signed-term questions scored against every candidate row at once.

Answering one question at a time costs a full pass over the vocabulary each
(gensim's `evaluate_word_analogies` makes 19,544 such passes on the Google
set). Here questions go in blocks and the work is shared: every score is
linear in the term similarities (3CosAdd ranks by s_b - s_a + s_c, 3CosMul by
products of (1 + s) / 2), so one matrix product of the block's distinct words
(a few hundred for thousands of questions) against the candidate rows gives
every similarity needed. A compiled loop (`kernel`) then combines each
question's rows of that product into its scores and keeps its k best, without
writing a single score to memory. The answers are exact: every candidate row
is scored, whatever the index type.

The rules are gensim's: 3CosAdd ranks items by cosine to the normalised mean
of the unit term vectors, signed +1 (positive) and -1 (negative), as
`most_similar` does; 3CosMul ranks by the product of the positive terms'
shifted cosines (1 + cos) / 2 over that of the negative ones plus 1e-6, as
`most_similar_cosmul` does. Each question's own items are never answers.
`restrict_vocab=N` makes only item ids below N candidates (gensim's
`restrict_vocab`: on a vocabulary index ids are frequency ranks, so these are
the N most frequent words); `where` keeps the items matching a SQL filter.

Exact nearest neighbours are the one-term case (`exact_search`), the
reference approximate indexes are measured against.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import InputError
from ..index import Hit, Index
from ..vectors import normalize_rows

ANALOGY_METHODS = ("add", "mul")
ANALOGY_SIGNS = (-1, 1, 1)  # a is negative, b and c are positive: b - a + c
SIMILARITY_BUDGET = 512 * 2**20  # bytes of word-by-row similarities held at once
CHUNK_ROWS = 16384  # candidate rows per matrix product (their similarity rows stay in cache)
MIN_BLOCK_WORDS = 64  # distinct words per block at least, even over the budget (then rows are chunked)


@dataclass
class Candidates:
    """The items an answer may be: every id below `limit`, or the listed `ids`."""

    index: Index
    limit: int
    ids: np.ndarray | None = None  # None: every id in range(limit) is a live candidate

    def __len__(self) -> int:
        return self.limit if self.ids is None else len(self.ids)

    def chunks(self, size: int):
        """(item ids, their vectors) in blocks of `size` rows, never the whole matrix copied."""
        for start in range(0, len(self), size):
            if self.ids is None:
                stop = min(start + size, self.limit)
                yield np.arange(start, stop, dtype=np.int64), self.index.vectors[start:stop]
            else:
                ids = self.ids[start:start + size]
                yield ids, self.index.vectors_of(ids)


def candidate_items(index: Index, restrict_vocab: int | None = None,
                    where: str | None = None) -> Candidates:
    """The live items (matching `where`) whose ids are below `restrict_vocab`."""
    if restrict_vocab is not None and restrict_vocab <= 0:
        raise InputError(f"restrict_vocab must be a positive number of rows, not {restrict_vocab}")
    rows = index.manifest.rows
    limit = rows if restrict_vocab is None else min(restrict_vocab, rows)
    if not where and index.count == rows:
        return Candidates(index, limit)
    ids = np.sort(index.ids_where(where or "1"))
    return Candidates(index, limit, ids[ids < limit])


def check_method(method: str) -> None:
    """An error naming the methods unless `method` is one of `ANALOGY_METHODS`."""
    if method not in ANALOGY_METHODS:
        raise InputError(f"unknown analogy method {method!r}: use add (3CosAdd) or mul (3CosMul)")


def cosadd_queries(terms: np.ndarray, signs: Sequence[int]) -> np.ndarray:
    """3CosAdd query vectors: the unit signed sum of each question's unit terms, (n, dim)."""
    return normalize_rows(np.einsum("ntd,t->nd", terms, np.asarray(signs, dtype=np.float32)))


def cosmul_combine(cosines: np.ndarray, signs: Sequence[int]) -> np.ndarray:
    """3CosMul from cosines (n questions, t terms, m rows) to scores (n, m).

    Each cosine is shifted to [0, 1] as (1 + cos) / 2; positive terms multiply
    the numerator, negative ones the denominator (plus 1e-6).
    """
    from .kernel import COSMUL_EPSILON  # the kernel's own constant, so that both agree

    shifted = (cosines + 1) * 0.5
    positive = [i for i, sign in enumerate(signs) if sign > 0]
    negative = [i for i, sign in enumerate(signs) if sign < 0]
    numerator = np.prod(shifted[:, positive], axis=1)
    return numerator / (np.prod(shifted[:, negative], axis=1) + COSMUL_EPSILON)


def score_targets(terms: np.ndarray, signs: Sequence[int], method: str,
                  targets: np.ndarray) -> np.ndarray:
    """The score question i gives to the unit vector targets[i] (e.g. its expected answer), (n,)."""
    if method == "add":
        return np.einsum("nd,nd->n", cosadd_queries(terms, signs), targets)
    return cosmul_combine(np.einsum("ntd,nd->nt", terms, targets)[:, :, None], signs)[:, 0]


def rank_answers(index: Index, terms: np.ndarray, signs: Sequence[int],
                 exclude: Sequence[set[int]], *, k: int = 10, method: str = "add",
                 restrict_vocab: int | None = None, where: str | None = None,
                 progress=None) -> tuple[np.ndarray, np.ndarray]:
    """The k best answers (ids, scores), each (n, k), best first, -1 / -inf where fewer exist.

    `terms` is (n questions, t terms, dim) of unit vectors with `signs` (t,)
    (+1 positive, -1 negative); `exclude[i]` holds the ids question i must not
    be answered with (its own words). `progress`, if given, is a tqdm-like bar
    advanced by the number of questions answered.
    """
    import numba  # compiling machinery for this engine only: a neighbours query never loads it

    from .kernel import fold_chunk, segmented

    check_method(method)
    if any(sign not in (-1, 1) for sign in signs) or not any(sign > 0 for sign in signs):
        raise InputError("terms must be signed +1 or -1, with at least one positive term")
    terms = np.asarray(terms, dtype=np.float32)
    n = len(terms)
    best_ids = np.full((n, max(k, 0)), -1, dtype=np.int64)
    best_scores = np.full((n, max(k, 0)), -np.inf, dtype=np.float32)
    candidates = candidate_items(index, restrict_vocab, where)
    if k <= 0 or n == 0 or len(candidates) == 0:
        return best_ids, best_scores
    signs = np.asarray(signs, dtype=np.float32)
    cosmul = method == "mul"
    max_words = max(MIN_BLOCK_WORDS, SIMILARITY_BUDGET // (4 * CHUNK_ROWS))
    for start, stop, words, term_rows in _blocks(terms, max_words):
        starts, excluded = _excluded(exclude[start:stop])
        for chunk_ids, chunk_vectors in candidates.chunks(CHUNK_ROWS):
            similarities = segmented(words, np.asarray(chunk_vectors, dtype=np.float32))
            fold_chunk(similarities, len(chunk_ids), term_rows, signs, cosmul, chunk_ids, starts, excluded,
                       best_scores[start:stop], best_ids[start:stop], numba.get_num_threads())
        if progress is not None:
            progress.update(stop - start)
    if method == "add":  # rank by the signed sum; report the cosine to its direction
        norms = np.linalg.norm(np.einsum("ntd,t->nd", terms, signs), axis=1)
        best_scores /= np.where(norms > 0, norms, 1)[:, None]
    return best_ids, best_scores


def _excluded(exclude: Sequence[set[int]]) -> tuple[np.ndarray, np.ndarray]:
    """The ids each question must not answer with, as (starts (n + 1,), ids) for the kernel."""
    lengths = np.fromiter((len(ids) for ids in exclude), dtype=np.int64, count=len(exclude))
    starts = np.concatenate([[0], np.cumsum(lengths)])
    ids = np.fromiter((i for ids in exclude for i in ids), dtype=np.int64, count=int(starts[-1]))
    return starts, ids


def _blocks(terms: np.ndarray, max_words: int):
    """Consecutive question blocks with at most `max_words` distinct term vectors (one if more).

    Yields (start, stop, distinct vectors (u, dim), term rows (stop - start, t) into them).
    """
    start = 0
    while start < len(terms):
        distinct: dict[bytes, int] = {}
        term_rows = []
        stop = start
        while stop < len(terms):
            keys = [vector.tobytes() for vector in terms[stop]]
            new = {key for key in keys if key not in distinct}
            if term_rows and len(distinct) + len(new) > max_words:
                break
            term_rows.append([distinct.setdefault(key, len(distinct)) for key in keys])
            stop += 1
        words = np.frombuffer(b"".join(distinct), dtype=np.float32).reshape(len(distinct), -1)
        yield start, stop, words, np.array(term_rows, dtype=np.int64)
        start = stop


def exact_search(index: Index, queries: np.ndarray, k: int, *, restrict_vocab: int | None = None,
                 where: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Brute-force top-k (ids, scores) by inner product over the raw vectors, whatever the index type.

    The reference that approximate indexes are measured against.
    """
    queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
    return rank_answers(index, queries[:, None, :], (1,), [set()] * len(queries), k=k,
                        restrict_vocab=restrict_vocab, where=where)


def hits_of(index: Index, ids: np.ndarray, scores: np.ndarray) -> list[list[Hit]]:
    """(ids, scores) arrays from `rank_answers` as lists of hits, keys looked up once."""
    keys = index.keys_of(np.unique(ids[ids >= 0]))
    return [[Hit(int(i), keys[int(i)], float(s)) for i, s in zip(row_ids, row_scores) if i >= 0]
            for row_ids, row_scores in zip(ids, scores)]
