"""The compiled inner loop of the exact ranking engine: score a chunk of rows, keep the k best.

Each question's score of a row is a few of its terms' similarities to that
row, combined (3CosAdd: their signed sum; 3CosMul: products of the shifted
cosines). numpy would write every score to memory and read it back to select
the best: over the Google set that is 19,486 questions x 300,000 rows, about
6 billion scores, and memory traffic, not arithmetic, set the time. Here
(numba, compiled once and cached on disk) every score lives in a register:
it is computed from the chunk's similarity rows, which stay in cache, and
compared at once with the question's current k-th best; the rare winner is
inserted into a sorted top k. Questions are spread over the cores.

Rows arrive in increasing id order, so "strictly better than the k-th best"
keeps the lower id first among equal scores.
"""

from __future__ import annotations

import numba
import numpy as np

ONE = np.float32(1.0)
HALF = np.float32(0.5)
COSMUL_EPSILON = np.float32(1e-6)  # gensim's guard against division by zero in 3CosMul
NO_NEGATIVE = np.float32(1 + 1e-6)  # the denominator when no term is negative
SEGMENT = 256  # rows scored into a small buffer before any of them is compared


@numba.njit(cache=True, nogil=True, inline="always")
def _score_segment(similarities, rows, signs, cosmul, segment, size, scores, spare):
    """One question's scores of a segment's first `size` rows into `scores` (float32, gensim's
    order of operations), one term at a time so that each loop is a plain vector operation."""
    if not cosmul:
        row, sign = rows[0], signs[0]
        for x in range(size):
            scores[x] = sign * similarities[segment, row, x]
        for term in range(1, len(rows)):
            row, sign = rows[term], signs[term]
            for x in range(size):
                scores[x] += sign * similarities[segment, row, x]
        return
    positive = 0
    negative = 0
    for term in range(len(rows)):
        row = rows[term]
        if signs[term] > 0 and positive == 0:
            for x in range(size):
                scores[x] = (similarities[segment, row, x] + ONE) * HALF
        elif signs[term] > 0:
            for x in range(size):
                scores[x] *= (similarities[segment, row, x] + ONE) * HALF
        elif negative == 0:
            for x in range(size):
                spare[x] = (similarities[segment, row, x] + ONE) * HALF
        else:
            for x in range(size):
                spare[x] *= (similarities[segment, row, x] + ONE) * HALF
        if signs[term] > 0:
            positive += 1
        else:
            negative += 1
    if negative:
        for x in range(size):
            scores[x] /= spare[x] + COSMUL_EPSILON
    else:
        for x in range(size):
            scores[x] /= NO_NEGATIVE


@numba.njit(parallel=True, cache=True, nogil=True)
def fold_chunk(similarities, rows, term_rows, signs, cosmul, chunk_ids, excluded_starts,
               excluded_ids, best_scores, best_ids, threads):
    """Fold one chunk of `rows` rows into every question's running top k (best_scores/ids:
    (n, k), sorted).

    similarities: (segments, words, SEGMENT) float32, the terms' cosines to the
    chunk's rows, SEGMENT rows at a time (`segmented`); term_rows: (n, t) word
    rows per question; signs: (t,) float32 of +1 / -1; chunk_ids: (rows,) item
    ids, increasing; question q never answers with
    excluded_ids[excluded_starts[q]:excluded_starts[q + 1]]. `threads` (numba's
    thread count) share the questions.
    """
    n = term_rows.shape[0]
    k = best_scores.shape[1]
    # Each thread takes a range of questions. Segments outer, questions inner: a segment's
    # similarities (words x SEGMENT) stay in cache while every question reads its rows of it.
    share = (n + threads - 1) // threads
    for part in numba.prange(threads):
        scores = np.empty(SEGMENT, dtype=np.float32)
        spare = np.empty(SEGMENT, dtype=np.float32)
        for segment in range(similarities.shape[0]):
            first = segment * SEGMENT
            size = min(SEGMENT, rows - first)
            for question in range(part * share, min(n, (part + 1) * share)):
                threshold = best_scores[question, k - 1]  # an empty slot scores -inf; NaN never wins
                beaten = False
                if not cosmul and len(signs) == 3 and size == SEGMENT:
                    # The common case (a 3CosAdd analogy, a full segment): one fused vector loop
                    # scores and compares, the same operations in the same order as below.
                    first_row = similarities[segment, term_rows[question, 0]]
                    second_row = similarities[segment, term_rows[question, 1]]
                    third_row = similarities[segment, term_rows[question, 2]]
                    for x in range(SEGMENT):
                        score = signs[0] * first_row[x]
                        score += signs[1] * second_row[x]
                        score += signs[2] * third_row[x]
                        scores[x] = score
                        beaten |= score > threshold
                else:
                    _score_segment(similarities, term_rows[question], signs, cosmul, segment, size,
                                   scores, spare)
                    for x in range(size):  # a vector loop; the scalar one below runs rarely
                        beaten |= scores[x] > threshold
                if not beaten:
                    continue
                for x in range(size):
                    if scores[x] > threshold:
                        threshold = _insert(best_scores[question], best_ids[question], scores[x],
                                            chunk_ids[first + x],
                                            excluded_ids[excluded_starts[question]:
                                                         excluded_starts[question + 1]])


def segmented(words: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Cosines of words (u, dim) to rows (r, dim) as (segments, u, SEGMENT), zero-padded.

    Each segment is contiguous, so that the kernel's loops index it from 0 (and
    compile to vector instructions).
    """
    segments = -(-len(vectors) // SEGMENT)
    padded = np.zeros((segments * SEGMENT, vectors.shape[1]), dtype=np.float32)
    padded[:len(vectors)] = vectors
    return np.matmul(words, padded.reshape(segments, SEGMENT, -1).transpose(0, 2, 1))


@numba.njit(cache=True, nogil=True)
def _insert(scores, ids, score, item, excluded) -> np.float32:
    """Put (score, item) into a sorted top k unless excluded; returns the new k-th best score."""
    k = len(scores)
    for other in excluded:
        if other == item:
            return scores[k - 1]
    slot = k - 1
    while slot > 0 and scores[slot - 1] < score:
        scores[slot] = scores[slot - 1]
        ids[slot] = ids[slot - 1]
        slot -= 1
    scores[slot] = score
    ids[slot] = item
    return scores[k - 1]
