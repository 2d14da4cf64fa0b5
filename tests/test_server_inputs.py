"""Non-finite numbers, lone surrogates, deep nesting and huge lines at the edges below the
server: JSON Lines and Parquet corpora skip such records with a counted reason, and the Python
API refuses such metadata with one clear error, leaving the index as it was."""

from __future__ import annotations

import json
import math

import pytest

from embedsearch.corpus import CorpusReport, Item, read_corpus
from embedsearch.corpus.readers import LONG_LINE, MAX_LINE_BYTES, UNSTORABLE
from embedsearch.encoders import load_encoder
from embedsearch.errors import InputError
from embedsearch.index import Index
from embedsearch.indexing import upsert_items
from embedsearch.indexing.build import build_corpus_index


def test_json_lines_records_that_strict_json_cannot_hold_are_skipped(tmp_path):
    corpus = tmp_path / "hostile.jsonl"
    corpus.write_text("\n".join([
        '{"text": "a fine line", "x": 1}',
        '{"text": "not a number", "x": NaN}',
        '{"text": "too big", "x": 1e999}',
        '{"text": "a lone \\ud800 surrogate"}',
        '{"text": "deep", "x": ' + "[" * 3000 + "]" * 3000 + "}",
        '{"text": "another fine line", "x": 2.5}',
    ]) + "\n")
    report = CorpusReport()
    items = list(read_corpus(corpus, report=report))
    assert [item.text for item in items] == ["a fine line", "another fine line"]
    assert report.skipped[UNSTORABLE] == 4


def test_a_huge_line_is_skipped_without_holding_it(tmp_path):
    corpus = tmp_path / "huge.txt"
    with open(corpus, "w") as handle:
        handle.write("short line\n")
        handle.write("word " * (MAX_LINE_BYTES // 5 + 10) + "\n")
        handle.write("last line\n")
    report = CorpusReport()
    items = list(read_corpus(corpus, report=report))
    assert [(item.text, item.position) for item in items] == [("short line", 1), ("last line", 3)]
    assert report.skipped[LONG_LINE] == 1


def test_parquet_rows_with_non_finite_numbers_are_skipped(tmp_path):
    pyarrow = pytest.importorskip("pyarrow")
    import pyarrow.parquet as parquet

    path = tmp_path / "rows.parquet"
    parquet.write_table(pyarrow.table({"text": ["one", "two", "three"],
                                       "score": [1.0, math.nan, math.inf]}), path)
    report = CorpusReport()
    assert [item.text for item in read_corpus(path, report=report)] == ["one"]
    assert report.skipped[UNSTORABLE] == 2


@pytest.mark.parametrize("metadata", [{"x": math.nan}, {"x": [math.inf]}, {"x": "\ud800"},
                                      {"x": 2**70}])
def test_the_python_api_refuses_metadata_strict_json_cannot_hold(tmp_path, vectors_file, metadata):
    corpus = tmp_path / "notes.jsonl"
    corpus.write_text(json.dumps({"id": "a", "text": "the river bank"}) + "\n")
    path = tmp_path / "notes"
    build_corpus_index(corpus, load_encoder(str(vectors_file)), path, key_field="id",
                       show_progress=False)
    with Index.open(path) as index:
        version = index.version_dir.name
    with pytest.raises(InputError):
        upsert_items(path, [Item("b", "the king", metadata=metadata)])
    with Index.open(path) as index:
        assert index.version_dir.name == version and index.count == 1


def test_a_corpus_of_only_unstorable_records_is_one_line_naming_why(tmp_path):
    import subprocess
    import sys

    corpus = tmp_path / "hostile.jsonl"
    corpus.write_text('{"text": "x", "y": NaN}\n{"text": "a lone \\ud800"}\n')
    result = subprocess.run([sys.executable, "-m", "embedsearch", "build", "--corpus", str(corpus),
                             "--out", str(tmp_path / "out")], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "every record was skipped (2 " + UNSTORABLE in lines[0], lines
    assert not (tmp_path / "out").exists()
