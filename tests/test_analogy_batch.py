"""The batch analogy engine on the edges: deleted items, tiny candidate sets, blocks, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from embedsearch.query import ranking as engine
from embedsearch.query import analogies
from embedsearch.query.ranking import rank_answers
from embedsearch.indexing.build import build_vocabulary_index
from embedsearch.encoders import WordVectors
from embedsearch.errors import InputError, UnknownWordsError
from embedsearch.index import Index, IndexWriter


@pytest.fixture
def small_index(glove_slice, tmp_path):
    words = WordVectors(glove_slice.words[:3000], glove_slice.vectors[:3000], name="small")
    build_vocabulary_index(words, tmp_path / "small", show_progress=False)
    return tmp_path / "small"


def brute_force(index, a, b, c, k, limit=None):
    """3CosAdd by hand over every live row: the reference answer."""
    ids = index.ids_for_keys([a, b, c])
    live = np.sort(index.ids_where("1"))
    live = live[live < limit] if limit else live
    query = index.vectors_of([ids[b]])[0] - index.vectors_of([ids[a]])[0] + index.vectors_of([ids[c]])[0]
    scores = index.vectors_of(live) @ (query / np.linalg.norm(query))
    order = [int(live[i]) for i in np.argsort(-scores) if int(live[i]) not in ids.values()]
    return order[:k]


def test_deleted_items_are_never_answers(small_index):
    with Index.open(small_index) as index:
        assert analogies(index, [("man", "king", "woman")], k=1)[0][0].key == "queen"
    with IndexWriter.update(small_index) as writer:
        writer.delete(keys=["queen"])
    with Index.open(small_index) as index:
        assert index.count < index.manifest.rows
        hits = analogies(index, [("man", "king", "woman")], k=8)[0]
        assert "queen" not in {h.key for h in hits}
        assert [h.id for h in hits] == brute_force(index, "man", "king", "woman", 8)


def test_fewer_candidates_than_k(small_index):
    with Index.open(small_index) as index:
        hits = analogies(index, [("the", "of", "and")], k=10, restrict_vocab=6)[0]
        assert [h.id for h in hits] == brute_force(index, "the", "of", "and", 10, limit=6)
        assert len(hits) == 3  # six candidates, three of them the question's own words


def test_small_blocks_and_chunks_give_the_same_answers(small_index, monkeypatch):
    questions = [("man", "king", "woman"), ("paris", "france", "rome"), ("good", "better", "bad"),
                 ("he", "his", "she"), ("japan", "tokyo", "china")]
    with Index.open(small_index) as index:
        whole = analogies(index, questions, k=5)
        monkeypatch.setattr(engine, "SIMILARITY_BUDGET", 4 * 1000 * 4)  # 4 words x 1,000 rows
        monkeypatch.setattr(engine, "CHUNK_ROWS", 1000)  # three chunks, the last one short
        monkeypatch.setattr(engine, "MIN_BLOCK_WORDS", 4)  # so blocks of one or two questions
        pieces = analogies(index, questions, k=5)
        assert [[h.id for h in hits] for hits in pieces] == [[h.id for h in hits] for hits in whole]
        for (a, b, c), hits in zip(questions, whole):
            assert [h.id for h in hits] == brute_force(index, a, b, c, 5)


def test_bad_questions_are_clear_errors(small_index):
    with Index.open(small_index) as index:
        with pytest.raises(UnknownWordsError, match="qwxzzy"):
            analogies(index, [("man", "king", "woman"), ("man", "qwxzzy", "woman")])
        with pytest.raises(InputError, match="three terms"):
            analogies(index, [("man", "king")])
        with pytest.raises(InputError, match="unknown analogy method"):
            analogies(index, [("man", "king", "woman")], method="div")
        with pytest.raises(InputError, match="restrict_vocab"):
            analogies(index, [("man", "king", "woman")], restrict_vocab=0)
        terms = index.vectors_of([1, 2])[None]
        with pytest.raises(InputError, match="signed"):
            rank_answers(index, terms, (-1, -1), [set()])
        assert analogies(index, []) == []
