"""Hybrid search: fusion on a hand-worked example, every mode against a reference, documents."""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers import LEE
from embedsearch.errors import InputError
from embedsearch.index import Index
from embedsearch.index.fulltext import keyword_search
from embedsearch.indexing.build import build_corpus_index
from embedsearch.query import neighbors, neighbors_batch
from embedsearch.query.fusion import DEFAULT_ALPHA, Fusion, fuse
from embedsearch.query.search import SearchHit

LEE_TEXTS = [line.strip() for line in LEE.read_text().splitlines() if line.strip()][:120]


def test_fusion_on_a_hand_worked_example():
    vector = {"a": 0.9, "b": 0.8, "c": 0.1}  # best first, as a search returns them
    keyword = {"c": 12.0, "a": 3.0}
    # RRF, k = 60, equal weights: a 1/61 + 1/62, c 1/63 + 1/61, b 1/62.
    rrf = fuse(vector, keyword, Fusion("rrf", alpha=0.5, rrf_k=60))
    assert list(rrf) == ["a", "c", "b"]
    assert rrf["a"] == pytest.approx(1 / 61 + 1 / 62)
    assert rrf["c"] == pytest.approx(1 / 63 + 1 / 61)
    assert rrf["b"] == pytest.approx(1 / 62)
    # Min-max mix, alpha 0.5: vector a 1, b 0.875, c 0; keyword c 1, a 0.
    mix = fuse(vector, keyword, Fusion("mix", alpha=0.5))
    assert mix == pytest.approx({"a": 0.5, "b": 0.4375, "c": 0.5})
    assert list(mix)[2] == "b"
    # alpha weights the vector list: 1 is the vector ranking, 0 the keyword one.
    assert list(fuse(vector, keyword, Fusion("mix", alpha=1.0))) == ["a", "b", "c"]
    assert list(fuse(vector, keyword, Fusion("mix", alpha=0.0)))[:2] == ["c", "a"]
    assert list(fuse(vector, {}, Fusion("rrf", alpha=0.5))) == ["a", "b", "c"]  # one list empty
    # No weight given: the one chosen for the index's encoder.
    assert Fusion().for_encoder("all-minilm-l6-v2").alpha == 0.7
    assert Fusion("rrf", alpha=0.1).for_encoder("all-minilm-l6-v2").alpha == 0.1
    assert Fusion().for_encoder("my-own-encoder").alpha == DEFAULT_ALPHA
    for bad in (dict(method="sum"), dict(alpha=1.5), dict(alpha=float("nan")), dict(rrf_k=0)):
        with pytest.raises(InputError):
            Fusion(**bad)


@pytest.fixture(scope="module")
def news(tmp_path_factory, vectors_file):
    """120 Lee news articles as documents, chunked into ~40-word chunks."""
    from embedsearch.encoders import load_encoder

    folder = tmp_path_factory.mktemp("news")
    corpus = folder / "news.jsonl"
    corpus.write_text("".join(json.dumps({"key": f"n{i}", "text": text, "even": i % 2 == 0}) + "\n"
                              for i, text in enumerate(LEE_TEXTS)))
    build_corpus_index(corpus, load_encoder(str(vectors_file)), folder / "idx", key_field="key",
                       chunk_words=40, show_progress=False)
    return folder / "idx"


def documents_of(index) -> dict[int, str]:
    return {row["id"]: row["metadata"].get("chunk", {}).get("document", row["key"])
            for batch in index.items.iter_rows() for row in batch}


QUERIES = ["bushfires near Sydney forced evacuations", "Taliban fighters in Kandahar",
           "the Reserve Bank cut interest rates", "qqqzzz nothing matches"]


def test_each_mode_answers_documents_ranked_as_its_reference(news):
    with Index.open(news) as index:
        documents = documents_of(index)
        for query in QUERIES[:3]:
            chunks = neighbors(index, query, k=index.count, mode="vector", chunks=True)
            expected = list(dict.fromkeys(documents[hit.id] for hit in chunks))[:10]
            found = neighbors(index, query, k=10, mode="vector")
            assert [hit.key for hit in found] == expected  # best chunk per document, in order
            assert all(isinstance(hit, SearchHit) and hit.vector_rank for hit in found)
            keyword = neighbors(index, query, k=10, mode="keyword")
            reference = keyword_search(index.items.connection, query, index.count)
            expected = list(dict.fromkeys(documents[item] for item, _ in reference))[:10]
            assert [hit.key for hit in keyword] == expected
            assert all(hit.keyword_rank is not None and hit.vector_rank is None for hit in keyword)
            hybrid = neighbors(index, query, k=10)
            assert hybrid.search["mode"] == "hybrid"
            assert hybrid.search["fusion"] == {"method": "mix", "alpha": DEFAULT_ALPHA, "rrf_k": 60}
            assert len({hit.key for hit in hybrid}) == 10
            assert any(hit.keyword_rank and hit.vector_rank for hit in hybrid)
            scores = [hit.score for hit in hybrid]
            assert scores == sorted(scores, reverse=True)


def test_a_query_without_keyword_match_answers_from_vectors_and_the_reverse(news):
    with Index.open(news) as index:
        # In no text, but known to the word vectors: answered by vectors alone.
        hits = neighbors(index, "piano guitar violin", k=5)
        assert len(hits) == 5 and all(h.keyword_rank is None and h.vector_rank for h in hits)
        # Unknown to the word vectors, in two texts: answered by keywords alone.
        hits = neighbors(index, "bushfire", k=5)
        expected = {f"n{i}" for i, text in enumerate(LEE_TEXTS) if "bushfire" in text.lower()}
        assert {h.key for h in hits} == expected
        assert all(h.vector_rank is None and h.keyword_rank for h in hits)
        nothing = neighbors(index, "qqqzzz", k=5)  # known to neither
        assert list(nothing) == [] and nothing.search["mode"] == "hybrid"
        with pytest.raises(Exception, match="qqqzzz"):
            neighbors(index, "qqqzzz", k=5, mode="vector")
        # In a batch, the query the encoder cannot encode answers from keywords alone and
        # the others as they would alone.
        batch = neighbors_batch(index, ["bushfire", "piano guitar violin"], k=5)
        assert [h.key for h in batch[0]] == [h.key for h in hits]
        assert [h.key for h in batch[1]] == [h.key for h in neighbors(index, "piano guitar violin", k=5)]


def test_filters_apply_inside_every_mode(news):
    where = "json_extract(metadata, '$.even') = 1"
    with Index.open(news) as index:
        for mode in ("vector", "keyword", "hybrid"):
            hits = neighbors(index, "government minister said", k=10, mode=mode, where=where)
            assert len(hits) == 10, mode
            assert all(int(hit.key[1:]) % 2 == 0 for hit in hits), mode


def test_batches_answer_as_single_queries_and_snippets_mark_query_words(news):
    with Index.open(news) as index:
        batch = neighbors_batch(index, QUERIES[:3], k=5, fusion=Fusion("rrf", alpha=0.3))
        for query, hits in zip(QUERIES[:3], batch):
            single = neighbors(index, query, k=5, fusion=Fusion("rrf", alpha=0.3))
            assert [h.key for h in hits] == [h.key for h in single]
            assert hits.search["fusion"] == {"method": "rrf", "alpha": 0.3, "rrf_k": 60}
        hit = batch[0][0]
        assert hit.snippet and hit.highlights
        words = {hit.snippet[start:end].lower() for start, end in hit.highlights}
        assert words & {"bushfires", "bushfire", "sydney", "evacuations", "forced"}
        row = index.get(id=hit.id)
        assert row["text"] in LEE_TEXTS[int(hit.key[1:])]


def test_chunks_returns_raw_chunks_with_offsets(news):
    with Index.open(news) as index:
        hits = neighbors(index, "Taliban fighters", k=15, mode="keyword", chunks=True)
        assert len({hit.id for hit in hits}) == 15
        assert len({hit.document for hit in hits}) < 15  # several chunks of one article
        for hit in hits:
            text = LEE_TEXTS[int(hit.document[1:])]
            assert text[hit.start:hit.end] == index.get(id=hit.id)["text"]
            assert hit.key == hit.item_key


def test_bad_modes_and_vectors(news, word_index_path):
    with Index.open(news) as index:
        with pytest.raises(InputError, match="unknown search mode"):
            neighbors(index, "fire", mode="semantic")
        with pytest.raises(InputError, match="text queries"):
            neighbors(index, vector=np.ones(index.dim), mode="keyword")
        assert neighbors(index, vector=index.vectors_of([0])[0], k=3)[0].id == 0
    with Index.open(word_index_path) as words:
        with pytest.raises(InputError, match="word vectors, not texts"):
            neighbors(words, "king", mode="hybrid")


def test_http_and_cli_answer_as_the_python_api(news, tmp_path):
    from fastapi.testclient import TestClient
    from typer.testing import CliRunner

    from embedsearch.cli import app as cli_app
    from embedsearch.query.serialize import answer_payload, hits_payload
    from embedsearch.server import create_app

    query = "bushfires near Sydney forced evacuations"
    with Index.open(news) as index:
        expected = {mode: neighbors(index, query, k=4, mode=mode) for mode in ("vector", "keyword",
                                                                                "hybrid")}
        mixed = neighbors(index, query, k=4, fusion=Fusion("mix", alpha=0.8), chunks=True)
        with TestClient(create_app([str(news)]), base_url="http://localhost") as client:
            for mode, hits in expected.items():
                answer = client.post(f"/indexes/{news.name}/neighbors",
                                     json={"query": query, "k": 4, "mode": mode}).json()
                assert answer == hits_payload(index, hits)
            answer = client.post(f"/indexes/{news.name}/search",
                                 json={"queries": [query], "k": 4, "fusion": "mix", "alpha": 0.8,
                                       "chunks": True}).json()
            assert answer["results"][0] == hits_payload(index, mixed)
            for bad in ({"mode": "fuzzy"}, {"alpha": 2}, {"fusion": "sum"}):
                response = client.post(f"/indexes/{news.name}/neighbors",
                                       json={"query": query, **bad})
                assert response.status_code in (400, 422), bad
        runner = CliRunner()
        done = runner.invoke(cli_app, ["neighbors", query, "--index", str(news), "-k", "4",
                                       "--mode", "keyword", "--json"])
        assert done.exit_code == 0, done.output
        assert json.loads(done.output) == json.loads(json.dumps(
            answer_payload(index, query, expected["keyword"])))
        done = runner.invoke(cli_app, ["neighbors", "-", "--index", str(news), "-k", "4"],
                             input=query + "\n")
        assert json.loads(done.output.splitlines()[0])["search"]["mode"] == "hybrid"
        table = runner.invoke(cli_app, ["neighbors", query, "--index", str(news), "-k", "4"])
        assert table.exit_code == 0 and "*" in table.output and "found" in table.output
        queries_file = tmp_path / "queries.jsonl"
        queries_file.write_text(json.dumps({"query": query, "relevant": [expected["hybrid"][0].key]})
                                + "\n")
        done = runner.invoke(cli_app, ["eval", "retrieval", "--index", str(news), "--queries",
                                       str(queries_file), "--json"])
        results = json.loads(done.output)["results"]
        assert [r["mode"] for r in results] == ["vector", "keyword", "hybrid"]
        assert results[2]["mrr"] == 1.0
