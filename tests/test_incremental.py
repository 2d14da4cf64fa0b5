"""Incremental updates (add / prune / delete), compaction, reindex atomicity, and their CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from typer.testing import CliRunner

from helpers import kill_once_written, unit_rows
from embedsearch.indexing.build import build_corpus_index
from embedsearch.cli import app
from embedsearch.encoders import load_encoder
from embedsearch.errors import EncoderChangedError, InputError
from embedsearch.index import Index, IndexWriter, versions
from embedsearch.indexing.add import add_corpus

runner = CliRunner()
WORDS = "king queen royal palace crown fish sea boat wave bird sky cloud land rules swim fly".split()


@pytest.fixture
def vectors_file(tmp_path):
    """A tiny GloVe-format text file: an offline encoder whose spec is its path."""
    rows = np.random.default_rng(0).normal(size=(len(WORDS), 8))
    path = tmp_path / "tiny.txt"
    path.write_text("".join(f"{w} {' '.join(f'{v:.5f}' for v in row)}\n" for w, row in zip(WORDS, rows)))
    return path


def write(path, lines):
    path.write_text("".join(line + "\n" for line in lines))


@pytest.mark.parametrize("index_type", ["flat", "hnsw"])
def test_add_skips_unchanged_upserts_changed_and_prunes(tmp_path, vectors_file, index_type):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    write(corpus / "a.txt", ["king rules land", "queen rules palace", "fish swim sea"])
    encoder = load_encoder(vectors_file)
    out = tmp_path / "idx"
    build_corpus_index(corpus, encoder, out, index_type=index_type, unit="line", show_progress=False)

    write(corpus / "a.txt", ["king rules land", "queen wears crown", "fish swim sea"])
    write(corpus / "b.txt", ["bird fly sky", "boat sea wave"])
    report = add_corpus(out, corpus, unit="line", show_progress=False)
    assert (report.added, report.updated, report.unchanged, report.deleted) == (2, 1, 2, 0)
    with Index.open(out) as index:
        assert index.count == 5
        assert index.faiss.ntotal == index.count + index.manifest.tombstones
        changed = index.get(key="a.txt:2")
        assert changed["text"] == "queen wears crown"
        np.testing.assert_allclose(changed["vector"], encoder.encode(["queen wears crown"])[0], atol=1e-5)
        hits = index.search(encoder.encode(["bird fly sky"]), k=1)[0]
        assert hits[0].key == "b.txt:1"

    # unchanged files cost nothing; removed lines go with --prune
    again = add_corpus(out, corpus, unit="line", show_progress=False)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 5)
    write(corpus / "b.txt", ["bird fly sky"])
    pruned = add_corpus(out, corpus, prune=True, unit="line", show_progress=False)
    assert pruned.deleted == 1
    with Index.open(out) as index:
        assert index.ids_for_keys(["b.txt:2"]) == {}
        assert index.count == 4
        assert all(h.key != "b.txt:2" for h in index.search(encoder.encode(["boat sea wave"]), k=4)[0])


def test_add_refuses_a_changed_encoder_and_a_vocabulary_index(tmp_path, vectors_file):
    corpus = tmp_path / "a.txt"
    write(corpus, ["king rules land"])
    out = tmp_path / "idx"
    build_corpus_index(corpus, load_encoder(vectors_file), out, unit="line", show_progress=False)
    with vectors_file.open("a") as handle:
        handle.write("newword " + " ".join(["0.1"] * 8) + "\n")
    with pytest.raises(EncoderChangedError, match="rebuild the index"):
        add_corpus(out, corpus, unit="line", show_progress=False)


def test_cli_delete_info_compact_reindex(tmp_path, vectors_file, home):
    corpus = tmp_path / "a.txt"
    write(corpus, [f"{a} {b}" for a in WORDS for b in WORDS[:5]])  # 80 lines
    result = runner.invoke(app, ["build", "--corpus", str(corpus), "--encoder", str(vectors_file),
                                 "--out", "notes", "--index-type", "hnsw", "--param", "M=16"])
    assert result.exit_code == 0, result.output
    assert 'index: hnsw {"M": 16' in result.output
    result = runner.invoke(app, ["delete", "notes"] + [f"a.txt:{i}" for i in range(1, 21)] + ["nope"])
    assert result.exit_code == 0 and "deleted 20 items" in result.output
    info = runner.invoke(app, ["info", "notes"]).output
    assert "20 deleted ids still in the graph" in info and "compaction due" in info
    assert json.loads(runner.invoke(app, ["info", "notes", "--json"]).output)["compaction_due"]
    result = runner.invoke(app, ["compact", "notes"])
    assert result.exit_code == 0 and "dropped 20 tombstones, 60 items" in result.output
    result = runner.invoke(app, ["reindex", "notes", "--type", "ivfsq8", "--recall", "0.9", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["index_type"] == "ivfsq8" and payload["tuning"]["recall_at_10"] >= 0.9
    info = json.loads(runner.invoke(app, ["info", "notes", "--json"]).output)
    assert info["index_type"] == "ivfsq8" and info["count"] == 60 and not info["compaction_due"]
    result = runner.invoke(app, ["add", "notes", "--corpus", str(corpus)])
    assert result.exit_code == 0 and "20 added, 0 changed, 60 unchanged" in result.output
    result = runner.invoke(app, ["reindex", "notes", "--type", "annoy"])
    assert result.exit_code != 0 and "unknown index type" in str(result.exception or result.output)


def test_killed_reindex_leaves_the_old_index_usable(tmp_path):
    rows = unit_rows(3000, 16, seed=0)
    path = tmp_path / "idx"
    from embedsearch.corpus import Item
    from embedsearch.index import EncoderInfo

    with IndexWriter.create(path, EncoderInfo("t", "test", "t", "f"), 16) as writer:
        writer.add([Item(f"k{i}", "") for i in range(len(rows))], rows)
    live = versions.current_version(path)
    # The child starts a reindex, writes its private copy, then is killed before commit.
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from embedsearch.index import IndexWriter
        writer = IndexWriter.reindex({str(path)!r}, index_type="hnsw")
        writer.flush()
        print("written", flush=True)
        time.sleep(60)
    """)], stdout=subprocess.PIPE, text=True)
    kill_once_written(child, path)
    assert versions.current_version(path) == live
    with Index.open(path) as index:
        assert index.manifest.index_type == "flat" and index.count == 3000
        assert index.search(rows[42], k=1)[0][0].id == 42
    # The next writer clears the dead copy and reindexes.
    with IndexWriter.reindex(path, index_type="hnsw"):
        pass
    assert not list(path.glob(versions.TMP_PREFIX + "*"))
    with Index.open(path) as index:
        assert index.manifest.index_type == "hnsw" and index.search(rows[42], k=1)[0][0].id == 42


def test_failing_reindex_changes_nothing(tmp_path):
    rows = unit_rows(300, 16, seed=1)
    path = tmp_path / "idx"
    from embedsearch.corpus import Item
    from embedsearch.index import EncoderInfo
    from embedsearch.indexing.maintenance import reindex

    with IndexWriter.create(path, EncoderInfo("t", "test", "t", "f"), 16) as writer:
        writer.add([Item(f"k{i}", "") for i in range(len(rows))], rows)
    live = versions.current_version(path)
    with pytest.raises(InputError, match="cannot train"):
        reindex(path, "factory:IVF1024,Flat")  # more lists than vectors: training fails mid-write
    assert versions.current_version(path) == live
    assert not list(path.glob(versions.TMP_PREFIX + "*"))
    with Index.open(path) as index:
        assert index.manifest.index_type == "flat" and index.search(rows[7], k=1)[0][0].id == 7


def test_skip_existing_builds_again_when_the_encoder_changed(tmp_path, vectors_file, home):
    """`build --skip-existing` (what `make demo` runs) reuses an index only while its encoder
    still gives the vectors it holds; after the encoder changed it builds the index again."""
    corpus = tmp_path / "a.txt"
    write(corpus, [f"{a} {b}" for a in WORDS[:4] for b in WORDS[4:8]])
    build = ["build", "--corpus", str(corpus), "--encoder", str(vectors_file), "--out", "notes",
             "--skip-existing"]
    assert runner.invoke(app, build).exit_code == 0
    again = runner.invoke(app, build)
    assert again.exit_code == 0 and "reusing" in again.output
    lines = vectors_file.read_text().splitlines()
    vectors_file.write_text("".join(line + " 0.5\n" for line in lines))  # another encoder, same path
    rebuilt = runner.invoke(app, build)
    assert rebuilt.exit_code == 0 and "building it again" in rebuilt.output, rebuilt.output
    info = json.loads(runner.invoke(app, ["info", "notes", "--json"]).output)
    assert info["dim"] == 9 and info["count"] == 16
    answer = runner.invoke(app, ["neighbors", f"{WORDS[0]} {WORDS[4]}", "--index", "notes", "--json"])
    assert answer.exit_code == 0, answer.output
