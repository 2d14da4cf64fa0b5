"""Neighbours, analogies and similarities agree with gensim's KeyedVectors, item by item."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from embedsearch import query
from embedsearch.errors import InputError, UnknownWordsError
from embedsearch.index import Index
from helpers import TOLERANCE, assert_same_ranking

WORDS = ["computer", "king", "paris", "running", "blue", "science", "water"]


@pytest.fixture(scope="module")
def index(word_index_path):
    with Index.open(word_index_path) as opened:
        yield opened


@pytest.mark.parametrize("word", WORDS)
def test_neighbours_match_gensim(index, keyed_vectors, word):
    hits = query.neighbors(index, word, k=10)
    assert word not in [h.key for h in hits]
    assert_same_ranking(hits, keyed_vectors.most_similar(word, topn=10))


def test_text_neighbours_are_gensim_most_similar_of_its_words(index, keyed_vectors):
    hits = query.neighbors(index, "ice cream", k=8)
    assert_same_ranking(hits, keyed_vectors.most_similar(positive=["ice", "cream"], topn=8))


@pytest.mark.parametrize("a,b,c", [("man", "king", "woman"), ("france", "paris", "italy"),
                                   ("good", "better", "bad")])
def test_analogy_3cosadd_matches_most_similar(index, keyed_vectors, a, b, c):
    hits = query.analogy(index, a, b, c, k=10)
    assert_same_ranking(hits, keyed_vectors.most_similar(positive=[b, c], negative=[a], topn=10))
    assert not {a, b, c} & {h.key for h in hits}


@pytest.mark.parametrize("a,b,c", [("man", "king", "woman"), ("france", "paris", "italy")])
def test_analogy_3cosmul_matches_most_similar_cosmul(index, keyed_vectors, a, b, c):
    hits = query.analogy(index, a, b, c, k=10, method="mul")
    assert_same_ranking(hits, keyed_vectors.most_similar_cosmul(positive=[b, c], negative=[a], topn=10))


def test_king_man_woman_is_queen(index):
    assert query.analogy(index, "man", "king", "woman", k=1)[0].key == "queen"


def test_similarity_and_matrix_match_gensim(index, keyed_vectors):
    pairs = [("woman", "man"), ("king", "queen"), ("computer", "water"), ("paper", "knife")]
    for first, second in pairs:
        assert query.similarity(index, first, second) == pytest.approx(
            keyed_vectors.similarity(first, second), abs=TOLERANCE)
    words = ["boy", "girl", "uncle", "aunt"]
    matrix = query.similarity_matrix(index, words)
    expected = [[keyed_vectors.similarity(x, y) for y in words] for x in words]
    np.testing.assert_allclose(matrix, expected, atol=TOLERANCE)


def test_text_similarity_is_cosine_of_mean_vectors(index, keyed_vectors):
    expected = keyed_vectors.n_similarity(["ice", "cream"], ["frozen", "dessert"])
    assert query.similarity(index, "ice cream", "frozen dessert") == pytest.approx(expected, abs=TOLERANCE)


def test_doesnt_match_matches_gensim(index, keyed_vectors):
    for words in (["breakfast", "cereal", "dinner", "lunch"], ["paris", "london", "berlin", "apple"]):
        assert query.doesnt_match(index, words) == keyed_vectors.doesnt_match(words)


def test_filter_runs_inside_the_search(index, keyed_vectors):
    """`position < 2000` (frequency rank) is gensim's restrict_vocab=2000, with k full results."""
    hits = query.neighbors(index, "computer", k=10, where="position < 2000")
    assert len(hits) == 10 and all(h.id < 2000 for h in hits)
    assert_same_ranking(hits, keyed_vectors.most_similar("computer", topn=10, restrict_vocab=2000))
    narrow = query.neighbors(index, "computer", k=10, where="key IN ('software', 'water', 'car')")
    assert sorted(h.key for h in narrow) == ["car", "software", "water"]
    assert query.neighbors(index, "computer", where="key = 'no-such-word'") == []


def test_unknown_words_are_named(index):
    with pytest.raises(UnknownWordsError, match="qwxzzy"):
        query.analogy(index, "man", "qwxzzy", "woman")
    with pytest.raises(UnknownWordsError, match="zzzq vvvq"):
        query.neighbors(index, "zzzq vvvq")


def test_bad_filter_and_method_are_input_errors(index):
    with pytest.raises(InputError, match="malformed filter"):
        query.neighbors(index, "king", where="position <")
    with pytest.raises(InputError, match="method"):
        query.analogy(index, "a", "b", "c", method="div")


def test_raw_vector_query(index, keyed_vectors):
    vector = keyed_vectors.get_vector("king", norm=True)
    hits = query.neighbors(index, vector=vector, k=3)
    assert hits[0].key == "king" and hits[0].score == pytest.approx(1.0, abs=1e-5)


def test_many_threads_search_one_index_at_once(word_index_path):
    """16 threads searching one open index get the single-threaded answers, and finish: threads
    that shared one SQLite connection once deadlocked (the time limit's progress handler waits for
    the GIL while holding the connection), so this runs in a child process with a time limit."""
    script = textwrap.dedent(f"""
        import threading
        from embedsearch import query
        from embedsearch.index import Index

        index = Index.open({str(word_index_path)!r})
        words = ["king", "computer", "river", "paris", "bread", "music", "water", "money"]
        expected = {{w: query.neighbors(index, w, k=10) for w in words}}
        wrong = []

        def search(offset):
            for i in range(300):
                word = words[(offset + i) % len(words)]
                if query.neighbors(index, word, k=10) != expected[word]:
                    wrong.append(word)

        threads = [threading.Thread(target=search, args=(n,)) for n in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        index.close()
        print(len(wrong))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0"


def test_a_neighbours_query_loads_neither_numba_nor_torch(word_index_path):
    """The compiled analogy kernel (numba) and the neural encoders (torch) are imported where
    they are used: a neighbours query, from `import embedsearch` to its answer, needs neither."""
    code = textwrap.dedent(f"""
        import sys
        import embedsearch
        from embedsearch import Index, query
        with Index.open({str(word_index_path)!r}) as index:
            print(query.neighbors(index, "computer", k=1)[0].key)
        print(sorted(name for name in ("numba", "torch") if name in sys.modules))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split("\n")[:2] == ["computers", "[]"]
