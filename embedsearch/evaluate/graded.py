"""Graded similarity: does the cosine of two texts follow a graded notion of relatedness?

Given texts and, for every pair, a grade (higher = more related), the score
is the correlation of the pairs' cosines with their grades: Pearson (the
figure used for human-rated document similarity) and Spearman (ranks only,
so a monotone but curved relation still scores 1).

Grades need no human: `nested_grades` derives them from two nested labels
of every text, e.g. its thread inside its newsgroup: 2 for two texts of the
same thread, 1 for the same newsgroup but another thread, 0 otherwise.

>>> grades = nested_grades(["space", "space", "space", "atheism"], ["a", "a", "b", "c"])
>>> grades.tolist()
[2, 1, 0, 1, 0, 0]
>>> import numpy as np
>>> vectors = np.array([[1.0, 0.0], [1.0, 0.0], [0.8, 0.6], [0.0, 1.0]])
>>> round(graded_correlation(vectors, grades)["spearman"], 3)
0.953
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import InputError


def pair_indices(count: int) -> tuple[np.ndarray, np.ndarray]:
    """(first, second) of every pair i < j of `count` items, in row-major order."""
    return np.triu_indices(count, k=1)


def nested_grades(outer: Sequence[str], inner: Sequence[str]) -> np.ndarray:
    """Grade of every pair (order of `pair_indices`): 2 same inner label, 1 same outer, else 0.

    Inner labels must be nested in outer ones (a thread lies in one newsgroup).
    """
    if len(outer) != len(inner):
        raise InputError(f"{len(outer)} outer labels but {len(inner)} inner labels")
    outer_of: dict[str, str] = {}
    for outer_label, inner_label in zip(outer, inner):
        if outer_of.setdefault(inner_label, outer_label) != outer_label:
            raise InputError(f"inner label {inner_label!r} lies in two outer labels")
    first, second = pair_indices(len(outer))
    outer_codes = np.unique(np.asarray(outer), return_inverse=True)[1]
    inner_codes = np.unique(np.asarray(inner), return_inverse=True)[1]
    return ((outer_codes[first] == outer_codes[second]).astype(np.int64)
            + (inner_codes[first] == inner_codes[second]))


def pair_cosines(vectors) -> np.ndarray:
    """Cosine of every pair (order of `pair_indices`) of unit rows, dense or scipy sparse."""
    similarity = vectors @ vectors.T
    similarity = similarity.toarray() if hasattr(similarity, "toarray") else np.asarray(similarity)
    return similarity[pair_indices(vectors.shape[0])]


def graded_correlation(vectors, grades: np.ndarray) -> dict:
    """{pearson, spearman, pairs}: correlation of pair cosines with `grades` (pair order)."""
    from scipy.stats import pearsonr, spearmanr

    cosines = pair_cosines(vectors)
    if len(cosines) != len(grades):
        raise InputError(f"{len(cosines)} pairs of vectors but {len(grades)} grades")
    if len(np.unique(grades)) < 2:
        raise InputError("every pair has the same grade: nothing to correlate with")
    return {"pearson": float(pearsonr(cosines, grades)[0]),
            "spearman": float(spearmanr(cosines, grades)[0]), "pairs": int(len(cosines))}
