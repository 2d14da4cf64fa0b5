"""`embed` (a file of lines to .npy) and `rebuild` (re-encode when the encoder changed)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from embedsearch import query
from embedsearch.indexing.build import build_corpus_index, build_vocabulary_index
from embedsearch.cli import app
from embedsearch.encoders import WordVectors, load_encoder
from embedsearch.errors import EncoderChangedError, InputError
from embedsearch.index import Index
from embedsearch.index.versions import current_version
from embedsearch.indexing.rebuild import rebuild_index
from embedsearch.train.token_position import TokenPositionTraining, train_token_position
from helpers import FAST_TOKEN_POSITION as FAST, tiny_corpus, training_of

runner = CliRunner()


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("rebuild")
    tiny_corpus(root / "corpus.txt", lines_per_topic=10)
    train_token_position(root / "corpus.txt", root / "encoder", training_of(TokenPositionTraining, **FAST),
                         show_progress=False)
    return root


@pytest.fixture
def word_vectors_dir(tmp_path):
    rng = np.random.default_rng(0)
    words = ["king", "queen", "apple", "banana", "code"]
    WordVectors(words, rng.normal(size=(5, 8)), name="toy").save(tmp_path / "toy-vectors")
    return tmp_path / "toy-vectors"


def copy_encoder(source, target):
    target.mkdir()
    for name in ("config.json", "weights.pt", "tokenizer.json"):
        (target / name).write_bytes((source / name).read_bytes())
    return target


def perturb(directory, seed=1):
    """Retrain-like change: new token embeddings, saved in place."""
    encoder = load_encoder(directory)
    with torch.no_grad():
        weight = encoder.model.token_embedding.weight
        weight.add_(torch.randn(weight.shape, generator=torch.Generator().manual_seed(seed)))
    encoder.save(directory)
    return load_encoder(directory)


@pytest.mark.parametrize("kind", ["token-position", "word-vectors"])
def test_embed_writes_one_row_per_line_in_order(kind, encoder_dir, word_vectors_dir, tmp_path):
    spec = encoder_dir / "encoder" if kind == "token-position" else word_vectors_dir
    lines = ["king queen", "apple banana apple", "code", "queen"]
    (tmp_path / "input.txt").write_text("\n".join(lines) + "\n")
    result = runner.invoke(app, ["embed", "--encoder", str(spec), "--input", str(tmp_path / "input.txt"),
                                 "--output", str(tmp_path / "out.npy")])
    assert result.exit_code == 0, result.output
    assert "wrote 4 vectors" in result.output
    vectors = np.load(tmp_path / "out.npy")
    assert vectors.dtype == np.float32 and vectors.shape[0] == 4
    np.testing.assert_allclose(vectors, load_encoder(spec).encode(lines), atol=1e-6)


def test_embed_names_the_line_it_cannot_encode(word_vectors_dir, tmp_path):
    (tmp_path / "input.txt").write_text("king\nqueen\nzzqx unknown\napple\n")
    result = runner.invoke(app, ["embed", "--encoder", str(word_vectors_dir), "--input",
                                 str(tmp_path / "input.txt"), "--output", str(tmp_path / "out.npy")])
    assert result.exit_code == 1
    assert isinstance(result.exception, InputError) and "line 3" in str(result.exception)
    assert not (tmp_path / "out.npy").exists()


def test_embed_refuses_an_over_long_line_before_holding_it(word_vectors_dir, tmp_path):
    from embedsearch.corpus.readers import MAX_LINE_BYTES

    with open(tmp_path / "input.txt", "w") as handle:
        handle.write("king\n")
        handle.write("queen " * (MAX_LINE_BYTES // 6 + 2) + "\n")
        handle.write("apple\n")
    result = runner.invoke(app, ["embed", "--encoder", str(word_vectors_dir), "--input",
                                 str(tmp_path / "input.txt"), "--output", str(tmp_path / "out.npy")])
    assert result.exit_code == 1
    assert isinstance(result.exception, InputError)
    assert "input.txt:2: line longer than" in str(result.exception)
    assert not (tmp_path / "out.npy").exists()


def test_rebuild_does_nothing_when_the_encoder_is_unchanged(encoder_dir, tmp_path):
    encoder = load_encoder(copy_encoder(encoder_dir / "encoder", tmp_path / "encoder"))
    build_corpus_index(encoder_dir / "corpus.txt", encoder, tmp_path / "index", show_progress=False)
    version = current_version(tmp_path / "index")
    result = runner.invoke(app, ["rebuild", str(tmp_path / "index")])
    assert result.exit_code == 0, result.output
    assert "unchanged" in result.output and "nothing to do" in result.output
    assert current_version(tmp_path / "index") == version


def test_rebuild_reencodes_a_corpus_index_when_the_encoder_changed(encoder_dir, tmp_path):
    directory = copy_encoder(encoder_dir / "encoder", tmp_path / "encoder")
    old = load_encoder(directory)
    lines = (encoder_dir / "corpus.txt").read_text().splitlines()
    build_corpus_index(encoder_dir / "corpus.txt", old, tmp_path / "index", show_progress=False)
    with Index.open(tmp_path / "index") as index:
        keys_before = index.keys_of(np.arange(index.count))
    new = perturb(directory)
    assert new.fingerprint() != old.fingerprint()
    # Before the rebuild, a text query would mix old vectors with the new encoder's: refused.
    with Index.open(tmp_path / "index") as index:
        with pytest.raises(EncoderChangedError, match="rebuild the index"):
            query.neighbors(index, "apple banana", k=3)
        with pytest.raises(EncoderChangedError):
            query.similarity(index, "apple banana", "king queen")
    refused = runner.invoke(app, ["neighbors", "apple banana", "--index", str(tmp_path / "index")])
    assert refused.exit_code == 1 and isinstance(refused.exception, EncoderChangedError)
    result = runner.invoke(app, ["rebuild", str(tmp_path / "index")])
    assert result.exit_code == 0, result.output
    assert "changed" in result.output and f"re-encoded {len(lines)} items" in result.output
    with Index.open(tmp_path / "index") as index:
        assert index.manifest.encoder.fingerprint == new.fingerprint()
        assert index.count == len(lines)
        assert index.keys_of(np.arange(index.count)) == keys_before
        rows = index.items.rows(range(index.count))
        texts = [rows[i]["text"] for i in range(index.count)]
        assert texts == lines
        np.testing.assert_allclose(index.vectors_of(np.arange(index.count)), new.encode(texts),
                                   atol=1e-6)
        hits = query.neighbors(index, "apple banana", k=3, mode="vector")
    expected = np.argsort(-(new.encode(lines) @ new.encode(["apple banana"])[0]))[:3]
    assert [h.id for h in hits] == expected.tolist()
    assert "unchanged" in rebuild_index(tmp_path / "index", show_progress=False).lines()[0]


def test_rebuild_of_a_token_index_uses_the_new_vocabulary_and_keeps_the_index_type(encoder_dir,
                                                                                   tmp_path):
    directory = copy_encoder(encoder_dir / "encoder", tmp_path / "encoder")
    build_vocabulary_index(load_encoder(directory), tmp_path / "tokens", index_type="hnsw",
                           recall=0.9, show_progress=False)
    new = perturb(directory, seed=2)
    report = rebuild_index(tmp_path / "tokens", show_progress=False)
    assert report.changed
    keys, vectors = new.vocabulary()
    with Index.open(tmp_path / "tokens") as index:
        assert index.manifest.content == "vocabulary" and index.manifest.index_type == "hnsw"
        assert index.manifest.tuning["target_recall"] == 0.9
        assert index.manifest.encoder.fingerprint == new.fingerprint()
        ids = index.ids_for_keys([" king", " apple"])
        np.testing.assert_allclose(index.vectors_of([ids[" king"], ids[" apple"]]),
                                   vectors[[keys.index(" king"), keys.index(" apple")]], atol=1e-6)
