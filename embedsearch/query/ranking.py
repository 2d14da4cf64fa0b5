"""The exact ranking engine: many signed-term questions scored against every candidate row at once.

Answering one question at a time costs a full pass over the vocabulary each
(gensim's `evaluate_word_analogies` makes 19,544 such passes on the Google
set). Here questions go in blocks and the work is shared: every score is
linear in the term similarities (3CosAdd ranks by s_b - s_a + s_c, 3CosMul by
products of (1 + s) / 2), so one matrix product of the block's distinct words
(a few hundred for thousands of questions) against the candidate rows gives
every similarity needed. Each question then combines three rows of that
product, keeps the rows at or above a threshold (the k-th best score among the
most frequent rows, a lower bound of the final k-th best) and ranks only those.
The answers are exact: every candidate row is scored, whatever the index type.

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
COSMUL_EPSILON = 1e-6  # gensim's guard against division by zero in 3CosMul
SIMILARITY_BUDGET = 512 * 2**20  # bytes of word-by-row similarities held at once
HEAD_ROWS = 2048  # rows (the most frequent words) whose k-th best score starts the threshold
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
    for start, stop, words, term_rows in _blocks(terms, len(candidates)):
        rows_per_chunk = max(HEAD_ROWS, SIMILARITY_BUDGET // (4 * len(words)))
        for chunk_ids, chunk_vectors in candidates.chunks(rows_per_chunk):
            similarities = words @ np.asarray(chunk_vectors, dtype=np.float32).T  # (words, rows)
            scorer = _ChunkScorer(similarities, signs, method)
            for question in range(start, stop):
                scores = scorer.scores(term_rows[question - start])
                _exclude(scores, chunk_ids, exclude[question])
                _merge_best(scores, chunk_ids, best_ids[question], best_scores[question])
        if progress is not None:
            progress.update(stop - start)
    if method == "add":  # rank by the signed sum; report the cosine to its direction
        norms = np.linalg.norm(np.einsum("ntd,t->nd", terms, np.asarray(signs, dtype=np.float32)),
                               axis=1)
        best_scores /= np.where(norms > 0, norms, 1)[:, None]
    return best_ids, best_scores


def _blocks(terms: np.ndarray, rows: int):
    """Consecutive question blocks whose distinct term vectors fit the similarity budget.

    Yields (start, stop, distinct vectors (u, dim), term rows (stop - start, t) into them).
    """
    max_words = max(MIN_BLOCK_WORDS, SIMILARITY_BUDGET // (4 * rows))
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


class _ChunkScorer:
    """Scores questions against one chunk's similarity rows, in two reused buffers.

    3CosAdd: the signed sum of the terms' rows; the sum of all terms but the
    last is kept, since consecutive questions often share it (the Google set
    asks each pair a : b against many c), so such a question costs one pass.
    The direction's norm is divided out at the end. 3CosMul: the rows are
    shifted once to (1 + cos) / 2; positive rows multiply, the negative ones
    (times each other, plus 1e-6) divide, as `cosmul_combine`.
    """

    def __init__(self, similarities: np.ndarray, signs: Sequence[int], method: str):
        if method == "mul":
            similarities += 1
            similarities *= 0.5
        self.similarities = similarities
        self.signs = list(signs)
        self.method = method
        self.out, self.partial = np.empty((2, similarities.shape[1]), dtype=np.float32)
        self.partial_rows: tuple | None = None

    def scores(self, rows: np.ndarray) -> np.ndarray:
        if self.method == "mul":
            return self._cosmul(rows)
        rows = tuple(int(row) for row in rows)
        if len(rows) == 1:
            return self._signed_sum(rows, self.signs, self.out)
        if rows[:-1] != self.partial_rows:
            self._signed_sum(rows[:-1], self.signs[:-1], self.partial)
            self.partial_rows = rows[:-1]
        (np.add if self.signs[-1] > 0 else np.subtract)(
            self.partial, self.similarities[rows[-1]], out=self.out)
        return self.out

    def _signed_sum(self, rows, signs, out: np.ndarray) -> np.ndarray:
        rows = [self.similarities[row] for row in rows]
        flip = all(sign < 0 for sign in signs)  # sum them as positive, then negate
        terms = sorted(zip([-s if flip else s for s in signs], rows), key=lambda term: -term[0])
        if len(terms) == 1:
            np.copyto(out, terms[0][1])
        else:
            (np.add if terms[1][0] > 0 else np.subtract)(terms[0][1], terms[1][1], out=out)
            for sign, row in terms[2:]:
                (np.add if sign > 0 else np.subtract)(out, row, out=out)
        if flip:
            np.negative(out, out=out)
        return out

    def _cosmul(self, rows: np.ndarray) -> np.ndarray:
        out, spare, similarities = self.out, self.partial, self.similarities
        positive = [row for row, sign in zip(rows, self.signs) if sign > 0]
        negative = [row for row, sign in zip(rows, self.signs) if sign < 0]
        np.copyto(out, similarities[positive[0]])
        for row in positive[1:]:
            np.multiply(out, similarities[row], out=out)
        if not negative:
            out /= np.float32(1 + COSMUL_EPSILON)
            return out
        np.copyto(spare, similarities[negative[0]])
        for row in negative[1:]:
            np.multiply(spare, similarities[row], out=spare)
        spare += np.float32(COSMUL_EPSILON)
        np.divide(out, spare, out=out)
        return out


def _exclude(scores: np.ndarray, chunk_ids: np.ndarray, exclude: set[int]) -> None:
    """Give the question's own items a score no answer can lose to."""
    if not exclude:
        return
    wanted = np.fromiter(exclude, dtype=np.int64)
    positions = np.searchsorted(chunk_ids, wanted)
    inside = positions < len(chunk_ids)
    positions = positions[inside]
    scores[positions[chunk_ids[positions] == wanted[inside]]] = -np.inf


def _merge_best(scores: np.ndarray, chunk_ids: np.ndarray, best_ids: np.ndarray,
                best_scores: np.ndarray) -> None:
    """Fold one chunk's scores into a question's running top k (ties: lower id first).

    Only rows scoring at least a known k-th best can enter: the running k-th
    best, or on the first chunk the k-th best of its first HEAD_ROWS rows.
    """
    k = len(best_ids)
    head = max(HEAD_ROWS, k)
    if best_ids[-1] >= 0:
        threshold = best_scores[-1]
    elif len(scores) > head:
        threshold = np.partition(scores[:head], head - k)[head - k]
    else:
        threshold = -np.inf
    positions = np.flatnonzero(scores >= threshold) if threshold > -np.inf else \
        np.flatnonzero(scores > -np.inf)
    if len(positions) > k:
        positions = positions[np.argpartition(-scores[positions], k - 1)[:k]]
    ids = np.concatenate([best_ids[best_ids >= 0], chunk_ids[positions]])
    values = np.concatenate([best_scores[best_ids >= 0], scores[positions]])
    order = np.lexsort((ids, -values))[:k]
    best_ids[:len(order)] = ids[order]
    best_scores[:len(order)] = values[order]


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
