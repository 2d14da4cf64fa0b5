"""Helpers shared by the tests: rankings against a reference allowing for ties, training settings."""

from __future__ import annotations

import random
import threading
import typing
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path

import gensim
import numpy as np

TOLERANCE = 1e-5


def assert_same_ranking(hits, expected, tolerance: float = TOLERANCE):
    """Hits against reference (key, score) pairs: same scores in order, same keys up to ties.

    Where two neighbouring reference scores tie (within `tolerance`) either key may come first.
    """
    assert len(hits) == len(expected)
    np.testing.assert_allclose([h.score for h in hits], [s for _, s in expected], atol=tolerance)
    for position, (hit, (key, _)) in enumerate(zip(hits, expected)):
        if hit.key != key:
            tied = [k for k, s in expected if abs(s - hit.score) < tolerance]
            assert hit.key in tied, f"rank {position}: {hit.key} vs {key}"


def assert_exact_top_k(ids, scores, reference, tolerance: float = TOLERANCE):
    """(ids, scores) of a top-k search against a full reference score matrix (queries, rows).

    Each row's scores are the reference's k best, in order, and each returned
    id really has the score it was returned with: any order among tied rows passes,
    a wrong id does not.
    """
    ids, scores, reference = np.asarray(ids), np.asarray(scores), np.asarray(reference)
    k = ids.shape[1]
    best = -np.sort(-reference, axis=1)[:, :k]
    np.testing.assert_allclose(scores, best, atol=tolerance)
    np.testing.assert_allclose(np.take_along_axis(reference, ids, axis=1), scores, atol=tolerance)
    assert all(len(set(row)) == k for row in ids.tolist()), "an id was returned twice"


def unit_rows(n: int, dim: int, seed: int = 0) -> np.ndarray:
    """`n` random unit vectors (float32), seeded: rows with no structure."""
    rows = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def clustered_unit_rows(n: int, dim: int, seed: int = 0, centres: int = 40) -> np.ndarray:
    """Unit vectors in Gaussian blobs around `centres` shared centres (the same for every seed):
    neighbours mean something, as in real embeddings."""
    rng = np.random.default_rng(seed)
    centre_vectors = np.random.default_rng(1234).normal(size=(centres, dim))
    rows = centre_vectors[rng.integers(0, centres, n)] + 0.5 * rng.normal(size=(n, dim))
    rows = rows.astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def lee_lines_file(directory: Path, lines: int) -> Path:
    """The first `lines` lines of the Lee corpus as `directory/lee.txt`: a small real corpus."""
    path = Path(directory) / "lee.txt"
    path.write_text("".join(LEE.read_text().splitlines(keepends=True)[:lines]))
    return path


def training_of(training_class, **settings):
    """A training dataclass from flat settings: those that name a field of its `model` go there.

    `training_of(TokenPositionTraining, dim=16, epochs=3)` is
    `TokenPositionTraining(model=TokenPositionConfig(dim=16), epochs=3)`.
    """
    model_class = typing.get_type_hints(training_class)["model"]
    model_fields = {item.name for item in fields(model_class)}
    model = model_class(**{k: v for k, v in settings.items() if k in model_fields})
    return training_class(model=model, **{k: v for k, v in settings.items() if k not in model_fields})


LEE = Path(gensim.__file__).parent / "test" / "test_data" / "lee_background.cor"
# Attention training that runs in seconds on a slice of LEE (flat settings for `training_of`).
TINY_ATTENTION = dict(dim=32, heads=2, layers=1, ff_dim=64, max_length=48, chunk_words=24,
                      batch_size=16, steps_per_epoch=12, warmup_steps=4, learning_rate=3e-3,
                      init_vectors="", seed=3, validation_fraction=0.3, lexical_dim=64)

TINY_TEXTS = ["the cat sat on the mat", "a dog ran in the park today"]


def tiny_attention_encoder(seed: int = 0, lexical_dim: int = 32, **config):
    """A small untrained attention encoder whose weights are nudged off the identity start,
    so that attention really mixes tokens; `config` sets other AttentionConfig fields."""
    import torch

    from embedsearch.encoders.attention import AttentionConfig, AttentionEncoder
    from embedsearch.encoders.attention_model import AttentionModel
    from embedsearch.encoders.tokenizers import Gpt2Tokenizer

    tokenizer = Gpt2Tokenizer.fit(TINY_TEXTS)
    config = AttentionConfig(vocab_size=tokenizer.vocab_size, dim=16, heads=2, layers=2, ff_dim=32,
                             lexical_dim=lexical_dim, lexical_share=0.5 if lexical_dim else 0.0,
                             **config)
    torch.manual_seed(seed)
    model = AttentionModel(config)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    return AttentionEncoder(model, config, tokenizer)


def tiny_sentence_transformer(directory, seed: int = 0):
    """A sentence-transformers model of one 16-d BERT layer (random weights, a word-piece
    vocabulary trained on a few sentences) saved in `directory`, as its encoder."""
    import torch
    from sentence_transformers import SentenceTransformer, models
    from tokenizers import BertWordPieceTokenizer
    from transformers import BertConfig, BertModel, BertTokenizerFast

    from embedsearch.encoders.sentence_transformer import SentenceTransformerEncoder

    bert = Path(directory) / "bert"
    bert.mkdir(parents=True)
    pieces = BertWordPieceTokenizer(lowercase=True)
    pieces.train_from_iterator([*TINY_TEXTS, *(" ".join(words) for words in TOPICS.values())],
                               vocab_size=300, min_frequency=1, show_progress=False)
    pieces.save_model(str(bert))
    tokenizer = BertTokenizerFast(vocab_file=str(bert / "vocab.txt"))
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=16, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=32, max_position_embeddings=64)
    BertModel(config).save_pretrained(bert)
    tokenizer.save_pretrained(bert)
    model = SentenceTransformer(modules=[models.Transformer(str(bert), max_seq_length=64),
                                         models.Pooling(16)], device="cpu")
    model.save(str(Path(directory) / "st"))
    return SentenceTransformerEncoder(Path(directory) / "st", show_progress=False)


def tiny_token_position_encoder(seed: int = 0, pooling: str = "embedding"):
    """A small untrained token+position encoder (random initial weights)."""
    import torch

    from embedsearch.encoders.configs import TokenPositionConfig
    from embedsearch.encoders.token_position import TokenPositionEncoder
    from embedsearch.encoders.token_position_model import TokenPositionModel
    from embedsearch.encoders.tokenizers import Gpt2Tokenizer

    tokenizer = Gpt2Tokenizer.fit(TINY_TEXTS)
    config = TokenPositionConfig(vocab_size=tokenizer.vocab_size, context=4, dim=12, hidden=16,
                                 pooling=pooling)
    torch.manual_seed(seed)
    return TokenPositionEncoder(TokenPositionModel(config), config, tokenizer)


TOPICS = {
    "royal": "king queen prince princess crown throne palace royal kingdom court".split(),
    "fruit": "apple banana cherry orange grape melon juice sweet ripe orchard".split(),
    "code": "computer program software code data network server bug compile keyboard".split(),
}
GLUE = "the a of and in to with was is".split()


def tiny_corpus(path, lines_per_topic=20, seed=0):
    """Lines of 10 words, each line about one topic: a corpus with something to learn."""
    rng = random.Random(seed)
    lines = []
    for _ in range(lines_per_topic):
        for words in TOPICS.values():
            lines.append(" ".join(rng.choice(words) if i % 2 == 0 else rng.choice(GLUE)
                                  for i in range(10)))
    path.write_text("\n".join(lines) + "\n")
    return lines


# A token+position training of seconds (flat settings for `training_of`).
FAST_TOKEN_POSITION = dict(context=8, dim=16, hidden=32, epochs=3, batch_size=16, learning_rate=1e-2)


def kill_once_written(child, index_path) -> None:
    """Wait for a writer child to print "written" (its private copy exists), then kill -9 it."""
    from embedsearch.index import versions

    try:
        assert child.stdout.readline().strip() == "written"
        assert list(index_path.glob(versions.TMP_PREFIX + "*"))
    finally:
        child.kill()
        child.wait()


@contextmanager
def serving(names, **settings):
    """A real uvicorn server on a free loopback port, in a thread: (base URL, the app)."""
    from embedsearch.server.run import make_server

    server, sock = make_server(names, host="127.0.0.1", port=0, log_level="warning", **settings)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the server did not start")
            thread.join(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", server.config.app
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
