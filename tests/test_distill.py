"""Distillation: the attention student moves towards its teacher, and is saved without it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from embedsearch.encoders import WordVectors, load_encoder
from embedsearch.evaluate.graded import pair_cosines
from embedsearch.train.attention import AttentionTraining, train_attention
from embedsearch.train.distill import teacher_pool
from embedsearch.train.losses import similarity_distillation
from helpers import TINY_ATTENTION as TINY, lee_lines_file, training_of


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return lee_lines_file(tmp_path_factory.mktemp("corpus"), 40)


@pytest.fixture(scope="module")
def teacher_dir(tmp_path_factory, glove_slice):
    """A word-vectors teacher: any encoder spec can teach."""
    return glove_slice.save(tmp_path_factory.mktemp("teacher") / "glove-slice")


def agreement(student, teacher, texts):
    """Pearson correlation of the student's and the teacher's cosines over every pair of texts."""
    return float(np.corrcoef(pair_cosines(student.encode(texts)),
                             pair_cosines(teacher.encode(texts)))[0, 1])


def test_similarity_distillation_is_zero_for_the_teacher_and_ignores_dimensions():
    generator = torch.Generator().manual_seed(0)
    teacher = torch.randn(6, 8, generator=generator)
    rotated = teacher @ torch.linalg.qr(torch.randn(8, 8, generator=generator))[0]
    assert similarity_distillation(rotated, teacher).item() == pytest.approx(0, abs=1e-10)
    padded = torch.cat([teacher, torch.zeros(6, 4)], dim=1)  # another width, the same cosines
    assert similarity_distillation(padded, teacher).item() == pytest.approx(0, abs=1e-10)
    assert similarity_distillation(torch.randn(6, 3, generator=generator), teacher).item() > 0.01


def test_the_pool_holds_chunks_views_and_documents(teacher_dir):
    teacher = load_encoder(teacher_dir)
    pool = teacher_pool(teacher, [["the king spoke", "the queen"], ["a dog ran home"]],
                        ["the king spoke the queen", "a dog ran home"], views=1, seed=0)
    assert {"the king spoke", "the queen", "the king spoke the queen"} <= set(pool.texts)
    assert len(pool.texts) == len(set(pool.texts)) == len(pool.vectors)
    assert np.allclose(pool.vectors, teacher.encode(pool.texts))


def test_the_student_moves_towards_the_teacher(corpus, teacher_dir, tmp_path):
    # The same schedule with and without the teacher (alone, the defaults would differ).
    settings = dict(TINY, lexical_dim=0, epochs=3, steps_per_epoch=8, temperature=0.05)
    taught = train_attention(corpus, tmp_path / "taught",
                             training_of(AttentionTraining, teacher=str(teacher_dir),
                                         distill_weight=50.0, **settings), show_progress=False)
    alone = train_attention(corpus, tmp_path / "alone", training_of(AttentionTraining, **settings),
                            show_progress=False)
    steps = [row["agreement"] for row in taught.teacher_agreement]
    assert steps[0] < steps[1] < steps[-1]  # before training, then after each epoch
    teacher = load_encoder(teacher_dir)
    texts = [" ".join(line.split()[:24]) for line in corpus.read_text().splitlines()]  # chunks
    assert agreement(taught.encoder, teacher, texts) > agreement(alone.encoder, teacher, texts) + 0.05
    # The student is our own model, loaded without its teacher.
    student = load_encoder(tmp_path / "taught")
    assert student.kind == "attention" and student.dim == 32
    assert np.allclose(student.encode(texts[:3]), taught.encoder.encode(texts[:3]), atol=1e-6)


def centred_cosines(matrix):
    centred = matrix - matrix.mean(axis=0)
    centred /= np.linalg.norm(centred, axis=1, keepdims=True)
    return centred @ centred.T


def test_teacher_token_rows_keep_the_teachers_centred_cosines(glove_slice):
    from embedsearch.encoders.attention import teacher_token_embeddings
    from embedsearch.encoders.tokenizers import Gpt2Tokenizer

    tokenizer = Gpt2Tokenizer.fit(["the king and the queen ate an apple in  paris , ™"])
    strings = [token.strip() for token in tokenizer.token_strings()]
    vectors, known = glove_slice.encode_batch(strings)
    ids = np.flatnonzero(known) + 4  # tokens the teacher can encode (not " " or "™")
    assert 0 < len(ids) < len(strings)
    expected = centred_cosines(vectors[known].astype(np.float64))
    for dim in (50, 64):  # as wide as the teacher (principal axes), wider (orthonormal rows)
        rows, matched = teacher_token_embeddings(tokenizer, glove_slice, dim, seed=0)
        assert rows.shape == (tokenizer.vocab_size, dim) and matched == len(ids)
        kept = rows[ids].double().numpy()
        assert np.allclose(np.linalg.norm(kept, axis=1), 1, atol=1e-5)
        assert np.allclose(kept @ kept.T, expected, atol=1e-5)
        assert not rows[0].any()  # padding
    # Narrower than the teacher: the top principal axes, as scikit-learn's PCA finds them.
    from sklearn.decomposition import PCA

    rows, _ = teacher_token_embeddings(tokenizer, glove_slice, 4, seed=0)
    reference = PCA(4).fit_transform(vectors[known].astype(np.float64))
    reference /= np.linalg.norm(reference, axis=1, keepdims=True)
    kept = rows[ids].double().numpy()
    assert np.allclose(kept @ kept.T, reference @ reference.T, atol=1e-4)


def test_init_vectors_teacher_needs_a_teacher(corpus, tmp_path):
    from embedsearch.errors import InputError

    with pytest.raises(InputError, match="needs a teacher"):
        train_attention(corpus, tmp_path / "x", training_of(AttentionTraining, **dict(
            TINY, init_vectors="teacher")), show_progress=False)
    assert AttentionTraining().start_vectors() == "glove-6b-50d"
    assert AttentionTraining(teacher="all-minilm-l6-v2").start_vectors() == "teacher"


def test_zero_epochs_and_temperature_follow_the_teacher():
    alone, taught = AttentionTraining().resolved(), AttentionTraining(teacher="t").resolved()
    assert (alone.epochs, alone.temperature) == (1, 0.2)
    assert (taught.epochs, taught.temperature) == (4, 0.05)
    chosen = AttentionTraining(epochs=3, temperature=0.1, teacher="t").resolved()
    assert (chosen.epochs, chosen.temperature) == (3, 0.1)
