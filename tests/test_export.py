"""Export: Qdrant local mode answers as the index does, re-export is idempotent, files round-trip."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from embedsearch.cli import app
from embedsearch.index import Index
from embedsearch.indexing import build_corpus_index

runner = CliRunner()


@pytest.fixture(scope="module")
def corpus_index(glove_slice, tmp_path_factory):
    """A corpus index of real sentences (the Lee corpus), with JSONL metadata."""
    from gensim.test.utils import datapath

    folder = tmp_path_factory.mktemp("export")
    lines = [line.strip() for line in open(datapath("lee_background.cor")) if line.strip()]
    with open(folder / "lee.jsonl", "w") as handle:
        for number, line in enumerate(lines):
            handle.write(json.dumps({"text": line, "doc": number}) + "\n")
    build_corpus_index(folder / "lee.jsonl", glove_slice, folder / "lee", chunk_words=0,
                       show_progress=False)
    return folder / "lee"


def test_qdrant_answers_the_same_top_10_and_reexport_is_idempotent(corpus_index, tmp_path, home):
    qdrant_client = pytest.importorskip("qdrant_client")
    target = tmp_path / "qdrant"
    for _ in range(2):
        result = runner.invoke(app, ["export", str(corpus_index), "--to", "qdrant", "--path",
                                     str(target), "--collection", "lee"])
        assert result.exit_code == 0, result.output
    client = qdrant_client.QdrantClient(path=str(target))
    try:
        with Index.open(corpus_index) as index:
            assert client.count("lee", exact=True).count == index.count  # no duplicates
            queries = index.vectors_of(range(0, index.count, 17))
            for query, hits in zip(queries, index.search(queries, k=10)):
                points = client.query_points("lee", query=query.tolist(), limit=10,
                                             with_payload=True).points
                np.testing.assert_allclose([p.score for p in points], [h.score for h in hits],
                                           atol=1e-5)
                for point, hit in zip(points, hits):
                    if point.id != hit.id:  # allowed only between tied scores
                        assert abs(point.score - hit.score) < 1e-5
                    else:
                        assert point.payload["key"] == hit.key
            first = client.retrieve("lee", ids=[0], with_payload=True)[0].payload
            row = index.get(id=0)
        assert first == {"key": row["key"], "text": row["text"], "source": "lee.jsonl",
                         "position": 1, "metadata": {"doc": 0}}
    finally:
        client.close()


@pytest.mark.parametrize("name", ["words.txt", "words.bin"])
def test_word2vec_round_trips_through_gensim(word_index_path, tmp_path, name):
    from gensim.models import KeyedVectors

    target = tmp_path / name
    result = runner.invoke(app, ["export", str(word_index_path), "--to", "word2vec",
                                 "--path", str(target)])
    assert result.exit_code == 0, result.output
    keyed = KeyedVectors.load_word2vec_format(str(target), binary=name.endswith(".bin"))
    with Index.open(word_index_path) as index:
        assert keyed.index_to_key == [index.keys_of([i])[i] for i in range(index.count)]
        np.testing.assert_array_equal(keyed.vectors, index.vectors_of(range(index.count)))


def test_npy_and_parquet_hold_items_and_vectors(corpus_index, tmp_path):
    for to, path in [("npy", tmp_path / "npy"), ("parquet", tmp_path / "lee.parquet")]:
        result = runner.invoke(app, ["export", str(corpus_index), "--to", to, "--path", str(path)])
        assert result.exit_code == 0, result.output
    vectors = np.load(tmp_path / "npy" / "vectors.npy")
    items = [json.loads(line) for line in open(tmp_path / "npy" / "items.jsonl")]
    table = pq.read_table(tmp_path / "lee.parquet")
    with Index.open(corpus_index) as index:
        np.testing.assert_array_equal(vectors, index.vectors_of([item["id"] for item in items]))
        assert len(items) == table.num_rows == index.count
        assert items[3]["key"] == index.get(id=items[3]["id"])["key"]
        assert items[3]["metadata"] == {"doc": 3}
        np.testing.assert_array_equal(np.stack(table["vector"].to_numpy(zero_copy_only=False)),
                                      vectors)
        assert table["key"].to_pylist() == [item["key"] for item in items]
    assert not list(tmp_path.glob(".*tmp*"))


def test_export_errors_are_one_line(corpus_index, tmp_path):
    for args, message in [
        (["--to", "faiss", "--path", str(tmp_path / "x")], "unknown --to 'faiss'"),
        (["--to", "qdrant"], "--to qdrant needs either --path"),
        (["--to", "npy", "--url", "http://x"], "--to npy writes files"),
    ]:
        result = runner.invoke(app, ["export", str(corpus_index), *args])
        assert result.exit_code != 0
        assert message in result.output or message in str(result.exception)
