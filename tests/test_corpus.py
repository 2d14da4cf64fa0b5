"""Corpus readers and corpus index builds: lines, paragraphs, JSON Lines, folders, bad bytes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from embedsearch import query
from embedsearch.indexing.build import build_corpus_index
from embedsearch.corpus import CorpusReport, read_corpus
from embedsearch.errors import InputError
from embedsearch.index import Index


def test_lines_skip_blanks_and_replace_bad_bytes(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_bytes(b"first line\n\n  \ncaf\xe9 au lait\nlast")
    report = CorpusReport()
    items = list(read_corpus(path, report=report))
    assert [(i.key, i.text, i.position) for i in items] == [
        ("notes.txt:1", "first line", 1), ("notes.txt:4", "caf\ufffd au lait", 4), ("notes.txt:5", "last", 5)]
    assert report.replaced_lines == 1 and report.skipped["empty line"] == 2 and report.items == 3


def test_paragraphs(tmp_path):
    path = tmp_path / "doc.txt"
    path.write_text("One line\nand more.\n\n\nSecond para.\n")
    items = list(read_corpus(path, unit="paragraph"))
    assert [(i.key, i.text) for i in items] == [("doc.txt#1", "One line and more."), ("doc.txt#2", "Second para.")]


def test_jsonl_fields_become_metadata(tmp_path):
    path = tmp_path / "docs.jsonl"
    records = [{"id": "a", "text": "hello world", "lang": "en"}, {"id": "b", "body": "no text"},
               "not an object", {"id": "c", "text": "bonjour", "lang": "fr", "year": 2020}]
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n{broken\n")
    report = CorpusReport()
    items = list(read_corpus(path, key_field="id", report=report))
    assert [(i.key, i.text, i.metadata) for i in items] == [
        ("a", "hello world", {"lang": "en"}), ("c", "bonjour", {"lang": "fr", "year": 2020})]
    assert report.skipped == {"no 'text' text field": 1, "JSON line is not an object": 1,
                              "invalid JSON line": 1}


def test_folders_are_read_in_order_and_hidden_files_skipped(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "two.txt").write_text("beta\n")
    (tmp_path / "a.md").write_text("alpha\n")
    (tmp_path / ".hidden.txt").write_text("secret\n")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    assert [(i.source, i.text) for i in read_corpus(tmp_path)] == [("a.md", "alpha"), ("b/two.txt", "beta")]


def test_missing_corpus_and_unknown_unit(tmp_path):
    with pytest.raises(InputError, match="corpus not found"):
        list(read_corpus(tmp_path / "nope.txt"))
    with pytest.raises(InputError, match="unknown unit"):
        list(read_corpus(tmp_path, unit="sentence"))


def test_corpus_index_build_and_query(tmp_path, glove_slice):
    from embedsearch.encoders import load_encoder

    encoder = load_encoder(glove_slice.save(tmp_path / "encoder"))  # reloadable by its spec
    corpus = tmp_path / "corpus.jsonl"
    texts = ["the stock market fell sharply", "football team wins the cup",
             "shares and bonds rallied", "the striker scored a goal", "qqzx vvqw", "the stock market fell sharply"]
    corpus.write_text("\n".join(json.dumps({"id": f"d{i}", "text": t, "topic": i % 2})
                                for i, t in enumerate(texts)))
    report = build_corpus_index(corpus, encoder, tmp_path / "news", key_field="id",
                                show_progress=False)
    assert report.items == 5 and report.skipped == {"no known word": 1}
    with Index.open(tmp_path / "news") as index:
        assert index.manifest.encoder.fingerprint == encoder.fingerprint()
        hits = query.neighbors(index, "goal in the match", k=2, mode="vector")
        assert {h.key for h in hits} == {"d1", "d3"}
        query_vector = encoder.encode(["goal in the match"])[0]
        for hit in hits:
            expected = query_vector @ encoder.encode([texts[int(hit.key[1:])]])[0]
            assert hit.score == pytest.approx(expected, abs=1e-5)
        by_key = query.neighbors(index, "d0", k=1, mode="vector")  # an item key: its own vector, itself excluded
        assert by_key[0].key == "d5" and by_key[0].score == pytest.approx(1.0, abs=1e-5)
        filtered = query.neighbors(index, "money", k=5, where="json_extract(metadata, '$.topic') = 0")
        assert {h.key for h in filtered} == {"d0", "d2"}
        np.testing.assert_allclose(index.vectors_of([0]), glove_slice.encode([texts[0]]), atol=1e-6)


def test_empty_corpus_is_an_error_and_builds_nothing(tmp_path, glove_slice):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    with pytest.raises(InputError, match="no text found"):
        build_corpus_index(empty, glove_slice, tmp_path / "out", show_progress=False)
    assert not (tmp_path / "out").exists()
    unknown = tmp_path / "unknown.txt"
    unknown.write_text("qqzx vvqw\n")
    with pytest.raises(InputError, match="nothing in"):
        build_corpus_index(unknown, glove_slice, tmp_path / "out2", show_progress=False)
    with pytest.raises(Exception):
        Index.open(tmp_path / "out2")
