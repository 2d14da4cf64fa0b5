"""One battery over every encoder: shape, dtype, unit norm, padding, save/load, fingerprint.

Each encoder enters through ENCODERS, one line per kind: a factory returning an
encoder (from the session's real GloVe slice, a small torch model, a one-layer
sentence-transformers model, or an attention student distilled from it in a few
steps; it may write in the directory it is given) and a function returning a
copy with one weight changed. Every encoder is first saved and loaded, as users
meet it (from a directory).
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from embedsearch.encoders import WordVectors, load_encoder
from embedsearch.encoders.sentence_transformer import SentenceTransformerEncoder
from embedsearch.encoders.static_tokens import StaticTokenEncoder, load_static_minilm
from embedsearch.train.attention import AttentionTraining, train_attention
from helpers import TINY_ATTENTION as TINY
from helpers import (TINY_TEXTS, tiny_attention_encoder, tiny_corpus, tiny_sentence_transformer,
                     tiny_token_position_encoder, training_of)


def word_vectors(glove_slice):
    return WordVectors(glove_slice.words[:2000], glove_slice.vectors[:2000], name="glove-2000")


def changed_word_vectors(encoder):
    vectors = encoder.vectors.copy()
    vectors[0] = vectors[1]
    return WordVectors(encoder.words, vectors, name=encoder.name)


def changed_neural(encoder):
    model = copy.deepcopy(encoder.model)
    with torch.no_grad():
        next(model.parameters()).add_(1e-3)
    return type(encoder)(model, copy.deepcopy(encoder.config), encoder.tokenizer)


def changed_sentence_transformer(encoder):
    """The model with one weight changed, saved beside the original."""
    model = copy.deepcopy(encoder.model)
    with torch.no_grad():
        next(model.parameters()).add_(1e-3)
    directory = encoder.directory.parent / "changed-model"
    model.save(str(directory))
    return SentenceTransformerEncoder(directory, show_progress=False)


def changed_static_tokens(encoder):
    table = encoder.stored_table.copy()
    table[1996] += 1e-2  # "the"
    return StaticTokenEncoder(table, encoder.tokenizer_path, name=encoder.name)


def distilled_student(glove, directory):
    """An attention student taught by the tiny sentence-transformers model for a few steps,
    on the tiny corpus plus the battery's texts (so every one of them has a known token)."""
    teacher = tiny_sentence_transformer(directory / "teacher")
    lines = tiny_corpus(directory / "corpus.txt")
    (directory / "corpus.txt").write_text("\n".join([*lines, *TINY_TEXTS, *LONGER]) + "\n")
    settings = dict(TINY, epochs=1, steps_per_epoch=4, validation_fraction=0.0)
    training = training_of(AttentionTraining, teacher=f"st:{teacher.directory}", **settings)
    return train_attention(directory / "corpus.txt", directory / "student", training,
                           show_progress=False).encoder


ENCODERS = {  # kind: (factory taking the GloVe slice and a directory, one-weight change)
    "word-vectors": (lambda glove, _: word_vectors(glove), changed_word_vectors),
    "token-position": (lambda glove, _: tiny_token_position_encoder(), changed_neural),
    "token-position-hidden": (lambda glove, _: tiny_token_position_encoder(pooling="hidden"),
                              changed_neural),
    "attention": (lambda glove, _: tiny_attention_encoder(), changed_neural),
    "attention-no-lexical": (lambda glove, _: tiny_attention_encoder(lexical_dim=0), changed_neural),
    "sentence-transformers": (lambda glove, directory: tiny_sentence_transformer(directory),
                              changed_sentence_transformer),
    "attention-distilled": (distilled_student, changed_neural),
    "static-tokens": (lambda glove, _: load_static_minilm(), changed_static_tokens),
}

SHORT = "the cat"
LONGER = ["the cat sat on the mat", "a dog ran in the park today and the cat sat on the mat " * 3,
          "the mat"]


@pytest.fixture(params=sorted(ENCODERS))
def kind(request):
    return request.param


@pytest.fixture
def encoder(kind, glove_slice, tmp_path):
    built = ENCODERS[kind][0](glove_slice, tmp_path / "built")
    built.save(tmp_path / "saved")
    return load_encoder(tmp_path / "saved")


def test_vectors_are_unit_float32_rows_of_the_encoders_dimension(encoder):
    vectors = encoder.encode(TINY_TEXTS + LONGER)
    assert vectors.dtype == np.float32 and vectors.shape == (5, encoder.dim)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_a_text_alone_or_padded_in_a_batch_gets_the_same_vector(encoder):
    alone = encoder.encode([SHORT])[0]
    batched = encoder.encode(LONGER[:1] + [SHORT] + LONGER[1:])[1]
    np.testing.assert_allclose(alone, batched, atol=1e-5)
    assert not np.allclose(alone, encoder.encode([LONGER[1]])[0], atol=1e-3)  # texts do differ


def test_save_and_load_keep_vectors_and_fingerprint(encoder, tmp_path):
    encoder.save(tmp_path / "again")
    loaded = load_encoder(tmp_path / "again")
    assert type(loaded) is type(encoder) and loaded.dim == encoder.dim
    np.testing.assert_array_equal(loaded.encode(LONGER), encoder.encode(LONGER))
    assert loaded.fingerprint() == encoder.fingerprint()


def test_the_fingerprint_is_stable_and_changes_with_one_weight(kind, encoder, tmp_path):
    assert encoder.fingerprint() == encoder.fingerprint()
    assert load_encoder(encoder.spec).fingerprint() == encoder.fingerprint()
    changed = ENCODERS[kind][1](encoder)
    changed.save(tmp_path / "changed")
    assert load_encoder(tmp_path / "changed").fingerprint() != encoder.fingerprint()
