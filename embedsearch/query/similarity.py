"""Similarity of words or texts, and the odd one out, as gensim's `similarity` and `doesnt_match`.

    round(similarity(index, "king", "queen"), 4)
    # 0.7839
    doesnt_match(index, ["breakfast", "cereal", "dinner", "lunch"])
    # 'cereal'
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import InputError
from ..index import Index
from ..vectors import normalize_rows
from ..errors import UnknownWordsError
from .types import OddOneOut, Similarities
from .terms import ignored_words, lookup_word_ids, resolve_terms


def similarity(index: Index, first: str, second: str) -> float:
    """Cosine similarity of two words or texts."""
    return float(similarity_matrix(index, [first, second])[0, 1])


def similarity_matrix(index: Index, terms: Sequence[str]) -> np.ndarray:
    """Cosine similarity of every pair of words or texts, (n, n) float32."""
    return compare(index, terms).matrix


def compare(index: Index, terms: Sequence[str], *, strict: bool = False) -> Similarities:
    """Every pairwise cosine of `terms`, with the words of theirs that were ignored."""
    resolved = resolve_terms(index, list(terms), strict=strict)
    vectors = np.stack([t.vector for t in resolved])
    return Similarities(list(terms), vectors @ vectors.T, ignored_words(resolved))


def doesnt_match(index: Index, words: Sequence[str]) -> str:
    """The word furthest from the mean of the others (gensim's `doesnt_match`)."""
    return odd_one_out(index, words).odd_one_out


def odd_one_out(index: Index, words: Sequence[str], *, strict: bool = False) -> OddOneOut:
    """`doesnt_match` that also says which words it left out (unknown ones; strict: an error)."""
    found = lookup_word_ids(index, words)
    used = [w for w in words if w in found]
    ignored = [w for w in words if w not in found]
    if strict and ignored:
        raise UnknownWordsError(ignored, f"index {index.name} (strict)")
    if len(used) < 2:
        raise InputError("give at least two known words to find the odd one out")
    vectors = index.vectors_of([found[w] for w in used])
    mean = normalize_rows(vectors.mean(axis=0))
    return OddOneOut(list(words), min(zip(vectors @ mean, used))[1], ignored)
