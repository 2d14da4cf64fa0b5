"""The token+position embedder: windows, training, save/load, padding, sampling, indexes, CLI."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from embedsearch import query
from embedsearch.indexing.build import build_corpus_index, build_vocabulary_index
from embedsearch.cli import app
from embedsearch.encoders import load_encoder
from embedsearch.encoders.token_position import TokenPositionEncoder
from helpers import FAST_TOKEN_POSITION as FAST, tiny_corpus, training_of
from embedsearch.errors import EncoderError, InputError
from embedsearch.index import Index
from embedsearch.train.token_position import (TokenPositionTraining, sample, sliding_windows,
                                              train_token_position)

runner = CliRunner()
def names_file(path, count=200, seed=0):
    """Pronounceable made-up names, one per line."""
    rng = random.Random(seed)
    onsets, vowels, codas = "b d f g k l m n p r s t v z br st tr".split(), "a e i o u ia ea".split(), \
        ["", "n", "r", "l", "s", "th"]
    names = sorted({"".join(rng.choice(onsets) + rng.choice(vowels) + rng.choice(codas)
                            for _ in range(rng.choice([1, 2, 2, 3]))) for _ in range(count)})
    path.write_text("\n".join(names) + "\n")
    return names




@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A token+position model trained for a few seconds on the tiny corpus."""
    root = tmp_path_factory.mktemp("token-position")
    lines = tiny_corpus(root / "corpus.txt")
    result = train_token_position(root / "corpus.txt", root / "encoder",
                                  training_of(TokenPositionTraining, **FAST), show_progress=False)
    return result, lines, root


def test_sliding_window_hand_worked():
    stream = list(range(10))
    inputs, targets = sliding_windows(stream, max_length=4, stride=4)
    assert inputs.tolist() == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert targets.tolist() == [[1, 2, 3, 4], [5, 6, 7, 8]]
    inputs, targets = sliding_windows(stream, max_length=4, stride=1)
    assert inputs.tolist() == [[s, s + 1, s + 2, s + 3] for s in range(6)]
    assert (targets == inputs + 1).all()
    inputs, targets = sliding_windows(stream, max_length=3, stride=2)
    assert inputs.tolist() == [[0, 1, 2], [2, 3, 4], [4, 5, 6], [6, 7, 8]]
    assert targets.tolist() == [[1, 2, 3], [3, 4, 5], [5, 6, 7], [7, 8, 9]]
    assert sliding_windows(stream, max_length=10, stride=1)[0].shape == (0, 10)
    with pytest.raises(InputError):
        sliding_windows(stream, max_length=4, stride=0)


def test_training_lowers_the_loss_and_reports_validation(trained):
    result, _, _ = trained
    history = result.history
    assert [h.epoch for h in history] == [1, 2, 3]
    assert history[-1].train_loss < history[0].train_loss
    assert all(h.validation_loss is not None for h in history)
    assert history[-1].validation_loss < history[0].validation_loss
    # Better than guessing uniformly over the compact vocabulary.
    assert history[-1].validation_loss < np.log(result.encoder.config.vocab_size)
    assert history[-1].validation_perplexity == pytest.approx(np.exp(history[-1].validation_loss))


def test_save_and_load_give_identical_vectors(trained):
    result, lines, root = trained
    loaded = load_encoder(root / "encoder")
    assert isinstance(loaded, TokenPositionEncoder)
    assert loaded.fingerprint() == result.encoder.fingerprint()
    np.testing.assert_array_equal(loaded.encode(lines), result.encoder.encode(lines))
    vectors = loaded.encode(lines)
    assert vectors.dtype == np.float32 and vectors.shape == (len(lines), loaded.dim)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("pooling", ["embedding", "hidden"])
def test_padding_does_not_change_a_texts_vector(trained, pooling):
    result, lines, _ = trained
    encoder = with_pooling(result.encoder, pooling)
    short = "the king"
    longer = [lines[0], " ".join(lines[:3])]  # the second is longer than the context
    alone = encoder.encode([short])[0]
    batched = encoder.encode([longer[1], short, longer[0]])
    np.testing.assert_allclose(batched[1], alone, atol=1e-6)
    np.testing.assert_allclose(batched[0], encoder.encode([longer[1]])[0], atol=1e-6)


def with_pooling(encoder, pooling):
    config = type(encoder.config)(**{**vars(encoder.config), "pooling": pooling})
    return TokenPositionEncoder(encoder.model, config, encoder.tokenizer)


def test_hidden_pooling_vocabulary_has_the_encoders_dimension(trained):
    encoder = with_pooling(trained[0].encoder, "hidden")
    keys, vectors = encoder.vocabulary()
    assert encoder.dim == encoder.config.hidden and vectors.shape == (len(keys), encoder.dim)
    np.testing.assert_allclose(vectors[:20], encoder.encode(keys[:20]), atol=1e-6)


def test_texts_without_a_known_token_cannot_be_encoded(trained):
    encoder = trained[0].encoder
    vectors, encodable = encoder.encode_batch(["", "king", "zzqx"])
    assert encodable.tolist() == [False, True, False]
    assert not vectors[0].any()
    with pytest.raises(EncoderError, match="zzqx"):
        encoder.encode(["zzqx"])


def test_token_index_answers_neighbours_from_the_encoders_vectors(trained, tmp_path):
    encoder = trained[0].encoder
    keys, vectors = encoder.vocabulary()
    assert " king" in keys and keys[0] == encoder.tokenizer.token_string(4)
    build_vocabulary_index(encoder, tmp_path / "tokens", show_progress=False)
    with Index.open(tmp_path / "tokens") as index:
        hits = query.neighbors(index, " king", k=5)
    row = keys.index(" king")
    scores = vectors @ vectors[row]
    scores[row] = -np.inf
    expected = np.argsort(-scores)[:5]
    assert [h.key for h in hits] == [keys[i] for i in expected]
    np.testing.assert_allclose([h.score for h in hits], scores[expected], atol=1e-5)


def test_corpus_index_holds_the_encoders_text_vectors(trained, tmp_path):
    encoder, lines, root = trained[0].encoder, trained[1], trained[2]
    build_corpus_index(root / "corpus.txt", encoder, tmp_path / "lines", chunk_words=0,
                       show_progress=False)
    with Index.open(tmp_path / "lines") as index:
        assert index.count == len(lines)
        np.testing.assert_allclose(index.vectors_of(np.arange(len(lines))), encoder.encode(lines),
                                   atol=1e-6)
        hits = query.neighbors(index, "king queen throne", k=3, mode="vector")
    expected = np.argsort(-(encoder.encode(lines) @ encoder.encode(["king queen throne"])[0]))[:3]
    assert [h.id for h in hits] == expected.tolist()


def test_resume_continues_exactly_where_training_stopped(tmp_path):
    tiny_corpus(tmp_path / "corpus.txt", lines_per_topic=8)
    options = dict(FAST, epochs=2)
    straight = train_token_position(tmp_path / "corpus.txt", tmp_path / "straight",
                                    training_of(TokenPositionTraining, **options), show_progress=False)
    train_token_position(tmp_path / "corpus.txt", tmp_path / "resumed",
                         training_of(TokenPositionTraining, **dict(options, epochs=1)), show_progress=False)
    resumed = train_token_position(tmp_path / "corpus.txt", tmp_path / "resumed",
                                   training_of(TokenPositionTraining, **options), resume=True, show_progress=False)
    assert [h.epoch for h in resumed.history] == [1, 2]
    for name, tensor in straight.encoder.model.state_dict().items():
        torch.testing.assert_close(resumed.encoder.model.state_dict()[name], tensor)
    with pytest.raises(InputError, match="dim"):
        train_token_position(tmp_path / "corpus.txt", tmp_path / "resumed",
                             training_of(TokenPositionTraining, **dict(options, dim=8, epochs=3)), resume=True,
                             show_progress=False)


def test_an_interrupted_run_leaves_a_usable_checkpoint(tmp_path):
    tiny_corpus(tmp_path / "corpus.txt", lines_per_topic=8)

    def interrupt(line):  # called after epoch 1 was checkpointed, as Ctrl-C could be
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_token_position(tmp_path / "corpus.txt", tmp_path / "out",
                             training_of(TokenPositionTraining, **FAST), report=interrupt, show_progress=False)
    assert not (tmp_path / "out" / "config.json").exists()
    resumed = train_token_position(tmp_path / "corpus.txt", tmp_path / "out",
                                   training_of(TokenPositionTraining, **dict(FAST, epochs=2)), resume=True,
                                   show_progress=False)
    assert [h.epoch for h in resumed.history] == [1, 2]
    assert isinstance(load_encoder(tmp_path / "out"), TokenPositionEncoder)


def test_char_model_learns_names_and_samples_new_ones(tmp_path):
    names = names_file(tmp_path / "names.txt")
    result = train_token_position(
        tmp_path / "names.txt", tmp_path / "names",
        training_of(TokenPositionTraining, tokenizer="char", context=5, stride=1, dim=16, hidden=48, epochs=3,
                              learning_rate=1e-2), show_progress=False)
    assert result.history[-1].validation_loss < result.history[0].validation_loss
    samples = sample(result.encoder, n=20, temperature=0.8, seed=1)
    assert samples == sample(load_encoder(tmp_path / "names"), n=20, temperature=0.8, seed=1)
    assert len(samples) == 20 and all(samples)
    letters = set("".join(names))
    assert all(set(s) <= letters for s in samples)
    # Plausible: mostly short, like the training names, rather than 64 random characters.
    assert np.median([len(s) for s in samples]) <= max(len(n) for n in names)


def test_damaged_directories_are_clear_errors(trained, tmp_path):
    source = trained[2] / "encoder"
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("config.json", "weights.pt", "tokenizer.json"):
        (broken / name).write_bytes((source / name).read_bytes())
    (broken / "weights.pt").write_bytes(b"not torch")
    with pytest.raises(EncoderError, match="weights.pt"):
        load_encoder(broken)
    (broken / "weights.pt").write_bytes((source / "weights.pt").read_bytes())
    config = json.loads((source / "config.json").read_text())
    (broken / "config.json").write_text(json.dumps({**config, "layers": 2}))
    with pytest.raises(EncoderError, match="unknown config keys layers"):
        load_encoder(broken)
    (broken / "config.json").write_text(json.dumps({**config, "dim": "16"}))
    with pytest.raises(EncoderError, match="'dim' should be int"):
        load_encoder(broken)
    (broken / "config.json").write_text(json.dumps({**config, "hidden": config["hidden"] + 1}))
    with pytest.raises(EncoderError, match="do not fit"):
        load_encoder(broken)
    (broken / "tokenizer.json").unlink()
    with pytest.raises(EncoderError, match="tokenizer.json is missing"):
        load_encoder(broken)


def test_cli_trains_and_samples(tmp_path):
    names_file(tmp_path / "names.txt")
    out = tmp_path / "names-model"
    result = runner.invoke(app, ["train", "token-position", "--corpus", str(tmp_path / "names.txt"),
                                 "--out", str(out), "--tokenizer", "char", "--context", "4",
                                 "--stride", "1", "--dim", "8", "--hidden", "32", "--epochs", "2"])
    assert result.exit_code == 0, result.output
    assert "epoch 2/2: train loss" in result.output and "validation loss" in result.output
    assert (out / "config.json").exists() and (out / "checkpoint.pt").exists()
    sampled = runner.invoke(app, ["sample", "--encoder", str(out), "--n", "5", "--seed", "3"])
    assert sampled.exit_code == 0, sampled.output
    assert len(sampled.output.strip().splitlines()) == 5
    again = runner.invoke(app, ["sample", "--encoder", str(out), "--n", "5", "--seed", "3"])
    assert again.output == sampled.output
