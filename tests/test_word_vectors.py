"""Word vectors: every standard format loads, GloVe keeps all 400,000 words, word2vec trains."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from embedsearch.corpus import tokenize
from embedsearch.encoders import load_encoder
from embedsearch.encoders.builtin import _glove_6b_50d_files, read_glove_6b_50d_words
from embedsearch.errors import EncoderError, InputError
from embedsearch.train.word2vec import CorpusSentences, Word2VecConfig, Word2VecTraining, train_word2vec

LEE = Path(__import__("gensim").__file__).parent / "test" / "test_data" / "lee_background.cor"


def test_glove_keeps_every_word_even_null_and_nan(glove):
    words = read_glove_6b_50d_words(_glove_6b_50d_files()[1])
    assert len(words) == 400000 == len(set(words)) == len(glove.words)
    assert all(isinstance(w, str) for w in words)
    for word in ("null", "nan", "n/a", "none", "na"):
        assert word in glove.rows
    assert glove.words[:3] == ["the", ",", "."]
    assert glove.vectors.shape == (400000, 50)
    np.testing.assert_allclose(np.linalg.norm(glove.vectors[:1000], axis=1), 1.0, atol=1e-5)


@pytest.fixture(scope="module")
def small_keyed(glove_slice):
    from gensim.models import KeyedVectors

    keyed = KeyedVectors(glove_slice.dim)
    keyed.add_vectors(glove_slice.words[:500], glove_slice.vectors[:500])
    return keyed


@pytest.mark.parametrize("fmt", ["word2vec-binary", "word2vec-text", "glove-text"])
def test_standard_formats_load_through_gensim(tmp_path, small_keyed, fmt):
    path = tmp_path / ("vectors.bin" if fmt == "word2vec-binary" else "vectors.txt")
    if fmt == "glove-text":
        with open(path, "w") as handle:
            for word, vector in zip(small_keyed.index_to_key, small_keyed.vectors):
                handle.write(word + " " + " ".join(f"{v:.6f}" for v in vector) + "\n")
    else:
        small_keyed.save_word2vec_format(str(path), binary=fmt == "word2vec-binary")
    encoder = load_encoder(path)
    assert encoder.words == small_keyed.index_to_key
    np.testing.assert_allclose(encoder.vectors, small_keyed.get_normed_vectors(), atol=1e-5)


def test_text_is_the_mean_of_its_known_words(glove_slice):
    vector = glove_slice.encode(["The king, and zzqqx!"])[0]
    rows = glove_slice.rows_of(["the", "king", ",", "and", "!"])
    expected = glove_slice.vectors[rows].mean(axis=0)
    np.testing.assert_allclose(vector, expected / np.linalg.norm(expected), atol=1e-6)
    with pytest.raises(EncoderError, match="zzqqx qqzzx"):
        glove_slice.encode(["king", "zzqqx qqzzx"])
    # A batch mixing unknown-only, empty and clitic texts: each row is the text's own mean.
    texts = ["zzqqx", "The king, and zzqqx!", "", "the queen's men don't", "king"]
    vectors, encodable = glove_slice.encode_batch(texts)
    assert encodable.tolist() == [False, True, False, True, True]
    assert not vectors[~encodable].any()
    for text, row in zip(np.array(texts)[encodable], vectors[encodable]):
        mean = glove_slice.vectors[glove_slice.rows_of(tokenize(text))].mean(axis=0)
        np.testing.assert_allclose(row, mean / np.linalg.norm(mean), atol=1e-6)


def test_unreadable_or_missing_vectors_are_clear_errors(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("2 3\nking 0.1 zero\n")
    with pytest.raises(InputError, match="cannot read"):
        load_encoder(bad)
    with pytest.raises(EncoderError, match="no encoder named"):
        load_encoder(tmp_path / "missing.bin")


def test_corpus_sentences_stream_again_on_every_pass(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("The cat sat.\n\nA dog ran!\n")
    sentences = CorpusSentences(corpus)
    assert list(sentences) == list(sentences) == [["the", "cat", "sat", "."], ["a", "dog", "ran", "!"]]


def test_train_word2vec_saves_vectors_with_counts(tmp_path):
    out = tmp_path / "lee-w2v"
    config = Word2VecTraining(Word2VecConfig(dim=24), min_count=3, epochs=3, workers=1, seed=7)
    vectors = train_word2vec(LEE, out, config, show_progress=False)
    assert (out / "vectors.bin").exists() and (out / "counts.txt").exists()
    reloaded = load_encoder(out)
    assert reloaded.words == vectors.words and reloaded.dim == 24
    again = train_word2vec(LEE, tmp_path / "again", config, show_progress=False)
    np.testing.assert_array_equal(again.vectors, vectors.vectors)  # seeded: reproducible
    np.testing.assert_allclose(reloaded.vectors, vectors.vectors)
    counts = dict(zip(reloaded.words, reloaded.counts))
    assert reloaded.words[0] == "the" and counts["the"] > counts[reloaded.words[50]] >= 3
    # Skip-gram on real text learns something: "government" is nearer "minister" than "ball".
    sims = reloaded.vectors @ reloaded.vectors[reloaded.rows["government"]]
    assert sims[reloaded.rows["minister"]] > sims[reloaded.rows["ball"]]


def test_train_word2vec_rejects_a_corpus_with_no_frequent_word(tmp_path):
    corpus = tmp_path / "tiny.txt"
    corpus.write_text("one two three\n")
    with pytest.raises(InputError, match="`min_count`"):
        train_word2vec(corpus, tmp_path / "out", Word2VecTraining(min_count=5), show_progress=False)


def test_a_header_claiming_more_vectors_than_the_file_holds_is_refused_before_allocating(tmp_path):
    """A tampered encoder (2,000,000,000 x 50 claimed, one row present) is one clear error, in a
    process whose address space is capped at 3 GB: nothing the size of the claim is allocated."""
    import subprocess
    import sys
    import textwrap

    encoder = tmp_path / "encoder"
    encoder.mkdir()
    (encoder / "config.json").write_text('{"kind": "word2vec", "name": "x", "format_version": 1}')
    row = b"a " + np.ones(50, np.float32).tobytes()
    (encoder / "vectors.bin").write_bytes(b"2000000000 50\n" + row)
    (tmp_path / "claims.txt").write_text("2000000000 50\na" + " 0.5" * 50 + "\n")
    code = textwrap.dedent(f"""
        import resource, sys
        resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))
        sys.path.insert(0, {str(Path.cwd())!r})
        from embedsearch.encoders import load_encoder
        from embedsearch.errors import InputError
        for spec in sys.argv[1:]:
            try:
                load_encoder(spec)
            except InputError as error:
                print(error)
    """)
    done = subprocess.run([sys.executable, "-c", code, str(encoder), str(tmp_path / "claims.txt")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert len(lines) == 2 and all("claims 2,000,000,000 vectors of dimension 50" in line
                                   for line in lines), done.stdout
