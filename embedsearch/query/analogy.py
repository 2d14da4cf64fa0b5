"""Analogies: "a is to b as c is to ?", one question or many, 3CosAdd or 3CosMul.

The rules and scores follow gensim's KeyedVectors (`most_similar`,
`most_similar_cosmul`), which the tests check. Every form goes through the
batch engine in `ranking`; a single question is a batch of one.

    analogy(index, "man", "king", "woman")[0].key
    # 'queen'
    [hits[0].key for hits in analogies(index, [("man", "king", "woman"),
                                                ("paris", "france", "rome")], k=1)]
    # ['queen', 'italy']
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import InputError
from ..index import Index
from ..progress import progress_bar
from .types import Hits
from .ranking import ANALOGY_SIGNS, check_method, hits_of, rank_answers
from .terms import ignored_words, resolve_terms


def analogy(index: Index, a: str, b: str, c: str, *, k: int = 10, method: str = "add",
            where: str | None = None, strict: bool = False) -> Hits:
    """a is to b as c is to ?: 3CosAdd (gensim most_similar) or 3CosMul (most_similar_cosmul)."""
    return most_similar(index, positive=[b, c], negative=[a], k=k, method=method, where=where,
                        strict=strict)


def most_similar(index: Index, positive: Sequence[str], negative: Sequence[str] = (), *,
                 k: int = 10, method: str = "add", where: str | None = None,
                 strict: bool = False) -> Hits:
    """gensim's `most_similar` (method "add") or `most_similar_cosmul` (method "mul")."""
    check_method(method)
    if not positive:
        raise InputError("give at least one positive term")
    terms = resolve_terms(index, list(positive) + list(negative), strict=strict)
    exclude = set().union(*(t.ids for t in terms))
    signs = [1] * len(positive) + [-1] * len(negative)
    ids, scores = rank_answers(index, np.stack([t.vector for t in terms])[None], signs, [exclude],
                               k=k, method=method, where=where)
    return Hits(hits_of(index, ids, scores)[0], ignored_words(terms))


def analogies(index: Index, questions: Sequence[tuple[str, str, str]], k: int = 10,
              method: str = "add", restrict_vocab: int | None = None, *,
              where: str | None = None, show_progress: bool = False,
              strict: bool = False) -> list[Hits]:
    """Answer many questions (a, b, c), "a is to b as c is to ?", at once.

    Terms resolve as in `most_similar` (a word, as given or lower-cased; a
    text; an item key); an unknown word is an error naming it. Each question's
    own items are never among its answers.
    """
    check_method(method)
    questions = [tuple(q) for q in questions]
    if any(len(q) != 3 for q in questions):
        raise InputError("each analogy question needs exactly three terms: a, b, c")
    unique = list(dict.fromkeys(term for q in questions for term in q))
    resolved = dict(zip(unique, resolve_terms(index, unique, strict=strict))) if unique else {}
    terms = np.zeros((len(questions), 3, index.dim), dtype=np.float32)
    exclude = []
    for row, question in enumerate(questions):
        found = [resolved[term] for term in question]
        terms[row] = [term.vector for term in found]
        exclude.append(set().union(*(term.ids for term in found)))
    with progress_bar(total=len(questions), unit="questions", disable=not show_progress) as bar:
        ids, scores = rank_answers(index, terms, ANALOGY_SIGNS, exclude, k=k, method=method,
                                   restrict_vocab=restrict_vocab, where=where, progress=bar)
    return [Hits(hits, ignored_words([resolved[term] for term in question]))
            for hits, question in zip(hits_of(index, ids, scores), questions)]
