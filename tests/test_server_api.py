"""The HTTP API through FastAPI's TestClient and a real uvicorn server: every endpoint answers
what the Python API answers on the same index, writes are seen by the next read (and readers
keep answering during a write), and every error is a 4xx JSON body a person can act on."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient as ServerTestClient
from typer.testing import CliRunner

from browser import running_server
from embedsearch import query
from embedsearch.cli import app as cli_app
from embedsearch.encoders import load_encoder
from embedsearch.index import Index
from embedsearch.index.catalog import index_info
from embedsearch.index.filters import parse_filter
from embedsearch.indexing.build import build_corpus_index
from embedsearch.query.projection import projection
from embedsearch.query.serialize import (hits_payload, odd_one_out_payload, projection_payload,
                                         similarity_payload)
from embedsearch.server import Limits, create_app
from embedsearch.server.run import bind_socket, check_bind, is_loopback
from embedsearch.errors import InputError

WRITE_KEY, READ_KEY = "write-secret", "read-secret"


def TestClient(app, **options):
    """FastAPI's test client, addressed as a browser on this machine would (Host localhost)."""
    return ServerTestClient(app, base_url="http://localhost", **options)
TEXTS = ["the river bank was flooded after the storm", "the bank raised its interest rates",
         "a computer program sorts the list", "the king and the queen rode to the castle",
         "fresh bread from the bakery", "stocks fell on the market today"]


def write_corpus(path, texts=TEXTS):
    path.write_text("".join(json.dumps({"id": f"doc{i}", "text": t, "year": 2020 + i,
                                        "lang": "en" if i % 2 else "fr"}) + "\n"
                            for i, t in enumerate(texts)))
    return path


@pytest.fixture(scope="module")
def corpus_path(tmp_path_factory, vectors_file):
    folder = tmp_path_factory.mktemp("served")
    path = folder / "notes"
    build_corpus_index(write_corpus(folder / "notes.jsonl"), load_encoder(str(vectors_file)), path,
                       key_field="id", show_progress=False)
    return path


@pytest.fixture(scope="module")
def served(word_index_path, corpus_path):
    return [str(word_index_path), str(corpus_path)]


@pytest.fixture(scope="module")
def test_client(served):
    with TestClient(create_app(served, allow_sql=True, limits=Limits(max_k=100))) as client:
        yield client


@pytest.fixture(scope="module")
def live_client(served):
    with running_server(served, allow_sql=True, limits=Limits(max_k=100)) as url, \
            httpx.Client(base_url=url, timeout=30) as client:
        yield client


@pytest.fixture(params=["testclient", "uvicorn"])
def client(request):
    return request.getfixturevalue("test_client" if request.param == "testclient" else "live_client")


@pytest.fixture(scope="module")
def words(word_index_path):
    with Index.open(word_index_path) as index:
        yield index


@pytest.fixture(scope="module")
def notes(corpus_path):
    with Index.open(corpus_path) as index:
        yield index


def post(client, path, body, status=200):
    response = client.post(path, json=body)
    assert response.status_code == status, response.text
    return response.json()


def assert_error(response, status, code):
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code
    assert body["error"]["message"] and "Traceback" not in response.text
    return body["error"]["message"]


# -- every endpoint equals the Python API ------------------------------------------------------


def test_list_and_describe_indexes(client, words, notes):
    listed = client.get("/indexes").json()
    assert [entry["name"] for entry in listed] == sorted([words.name, notes.name])
    assert {e["name"]: e["count"] for e in listed} == {words.name: words.count, notes.name: notes.count}
    described = client.get(f"/indexes/{words.name}").json()
    assert described == json.loads(json.dumps(index_info(words)))


@pytest.mark.parametrize("term", ["computer", "Paris", "river bank money"])
def test_neighbors_of_words_and_texts(client, words, term):
    hits = post(client, f"/indexes/{words.name}/neighbors", {"query": term, "k": 12})
    assert hits == hits_payload(words, query.neighbors(words, term, k=12))


def test_neighbors_of_a_vector_and_with_exclusions(client, words):
    vector = words.vectors_of(list(words.ids_for_keys(["king"]).values()))[0] * 3
    hits = post(client, f"/indexes/{words.name}/neighbors", {"vector": vector.tolist(), "k": 5})
    assert hits == hits_payload(words, query.neighbors(words, vector=vector, k=5))
    assert hits[0]["key"] == "king"
    kept = post(client, f"/indexes/{words.name}/neighbors",
                {"query": "king", "k": 5, "exclude": ["queen", "prince"]})
    assert kept == hits_payload(words, query.neighbors(words, "king", k=5, exclude=["queen", "prince"]))
    assert {"queen", "prince"}.isdisjoint(hit["key"] for hit in kept)


def test_neighbors_in_a_corpus_with_json_and_sql_filters(client, notes):
    spec = {"lang": "en", "year": {"$gte": 2021}}
    hits = post(client, f"/indexes/{notes.name}/neighbors", {"query": "money", "k": 5, "filter": spec})
    assert hits == hits_payload(notes, query.neighbors(notes, "money", k=5, where=parse_filter(spec)))
    assert hits and all(h["metadata"]["lang"] == "en" and h["text"] for h in hits)
    sql = "json_extract(metadata, '$.lang') = 'en' AND json_extract(metadata, '$.year') >= 2021"
    assert post(client, f"/indexes/{notes.name}/neighbors", {"query": "money", "k": 5, "where": sql}) == hits


@pytest.mark.parametrize("method", ["add", "mul"])
def test_analogy_both_forms(client, words, method):
    triple = post(client, f"/indexes/{words.name}/analogy",
                  {"a": "man", "b": "king", "c": "woman", "k": 5, "method": method})
    assert triple == hits_payload(words, query.analogy(words, "man", "king", "woman", k=5, method=method))
    assert triple[0]["key"] == "queen"
    general = post(client, f"/indexes/{words.name}/analogy",
                   {"positive": ["king", "woman"], "negative": ["man"], "k": 5, "method": method})
    assert general == triple


def test_similarity_pair_matrix_and_odd_one_out(client, words):
    pair = post(client, f"/indexes/{words.name}/similarity", {"terms": ["king", "queen"]})
    terms = ["king", "queen", "computer"]
    assert pair == similarity_payload(query.compare(words, ["king", "queen"]))
    matrix = post(client, f"/indexes/{words.name}/similarity", {"terms": terms})
    assert matrix == similarity_payload(query.compare(words, terms))
    meal = ["breakfast", "cereal", "dinner", "lunch"]
    odd = post(client, f"/indexes/{words.name}/doesnt-match", {"words": meal})
    assert odd == odd_one_out_payload(query.odd_one_out(words, meal)) and odd["odd_one_out"] == "cereal"


def test_batch_search_equals_one_query_at_a_time(client, words):
    vector = np.random.default_rng(0).normal(size=words.dim).astype(np.float32)
    queries = ["computer", "river bank", "king", vector.tolist()]
    answer = post(client, f"/indexes/{words.name}/search", {"queries": queries, "k": 7})
    expected = [query.neighbors(words, q, k=7) for q in queries[:3]] + \
               [query.neighbors(words, vector=vector, k=7)]
    assert answer == {"results": [hits_payload(words, hits) for hits in expected]}


def test_projection_of_a_neighbourhood_and_of_a_sample(client, words, notes):
    body = {"query": "king", "k": 20, "terms": ["man", "woman"]}
    mapped = post(client, f"/indexes/{words.name}/projection", body)
    reference = projection_payload(words, projection(words, "king", k=20, terms=["man", "woman"]))
    assert mapped == reference
    assert len(mapped["points"]) == 23 and mapped["points"][0]["role"] == "query"
    coordinates = np.array([[p["x"], p["y"]] for p in mapped["points"]])
    assert np.allclose(coordinates[1:21].mean(axis=0), 0, atol=1e-4)  # PCA is fitted on the neighbours
    sample = post(client, f"/indexes/{notes.name}/projection", {"sample": 4})
    assert [p["role"] for p in sample["points"]] == ["sample"] * 4
    assert all(p["text"] and "metadata" in p for p in sample["points"])


# -- writes ----------------------------------------------------------------------------------


@pytest.fixture
def writable(tmp_path, vectors_file):
    path = tmp_path / "diary"
    build_corpus_index(write_corpus(tmp_path / "diary.jsonl"), load_encoder(str(vectors_file)), path,
                       key_field="id", show_progress=False)
    return path


def test_write_then_read(writable):
    with TestClient(create_app([str(writable)])) as client:
        before = client.get("/indexes/diary").json()["version"]
        new = {"key": "cash", "text": "money cash payment dollars", "metadata": {"lang": "en"}}
        report = post(client, "/indexes/diary/items", {"items": [new]})
        assert report["added"] == 1 and report["count"] == len(TEXTS) + 1
        assert report["version"] != before
        hits = post(client, "/indexes/diary/neighbors", {"query": "money", "k": 1})
        assert hits[0]["key"] == "cash" and hits[0]["metadata"] == {"lang": "en"}
        again = post(client, "/indexes/diary/items", {"items": [new, {"key": "doc0", "text": "bread"}]})
        assert (again["added"], again["updated"], again["unchanged"]) == (0, 1, 1)
        gone = post(client, "/indexes/diary/items/delete", {"keys": ["cash", "nothing"]})
        assert gone["deleted"] == 1 and gone["missing"] == ["nothing"]
        hits = post(client, "/indexes/diary/neighbors", {"query": "money", "k": 10})
        assert "cash" not in [hit["key"] for hit in hits]
    with Index.open(writable) as index:
        assert index.count == len(TEXTS) and index.get(key="doc0")["text"] == "bread"


def test_readers_keep_answering_during_a_write(writable):
    many = [{"key": f"new{i}", "text": f"{TEXTS[i % len(TEXTS)]} number {i}"} for i in range(1000)]
    answers, failures = [], []
    with running_server([str(writable)]) as url:
        def read(stop):
            with httpx.Client(base_url=url, timeout=30) as reader:
                while not stop.is_set():
                    response = reader.post("/indexes/diary/neighbors", json={"query": "bank", "k": 3})
                    (answers if response.status_code == 200 else failures).append(response.text)
        stop = threading.Event()
        readers = [threading.Thread(target=read, args=(stop,)) for _ in range(2)]
        for thread in readers:
            thread.start()
        with httpx.Client(base_url=url, timeout=60) as writer:
            written = writer.post("/indexes/diary/items", json={"items": many})
            after = writer.get("/indexes/diary").json()
        stop.set()
        for thread in readers:
            thread.join()
    assert written.status_code == 200, written.text
    assert not failures and len(answers) >= 2
    assert after["count"] == len(TEXTS) + len(many)


# -- errors ----------------------------------------------------------------------------------


def test_client_errors_are_json_with_a_code(client, words, notes):
    name = words.name
    bad_json = client.post(f"/indexes/{name}/neighbors", content=b'{"query": ',
                           headers={"content-type": "application/json"})
    assert_error(bad_json, 400, "bad_json")
    assert "qwzxv" in assert_error(client.post(f"/indexes/{name}/neighbors", json={"query": "qwzxv"}),
                                   404, "unknown_term")
    assert_error(client.post("/indexes/nope/neighbors", json={"query": "king"}), 404, "index_not_found")
    assert "'$like'" in assert_error(
        client.post(f"/indexes/{notes.name}/neighbors",
                    json={"query": "money", "filter": {"lang": {"$like": "e%"}}}), 400, "bad_filter")
    assert_error(client.post(f"/indexes/{notes.name}/neighbors",
                             json={"query": "money", "where": "nonsense ))"}), 400, "bad_filter")
    assert "at most 100" in assert_error(client.post(f"/indexes/{name}/neighbors",
                                                     json={"query": "king", "k": 101}),
                                         400, "limit_exceeded")
    assert_error(client.post(f"/indexes/{name}/neighbors", json={"query": "king", "k": 0}),
                 422, "invalid_request")
    assert "dimension 50" in assert_error(client.post(f"/indexes/{name}/neighbors",
                                                      json={"vector": [1.0, 2.0]}), 400,
                                          "wrong_dimension")
    assert_error(client.post(f"/indexes/{name}/search", json={"queries": ["king", [1.0]]}),
                 400, "wrong_dimension")
    assert_error(client.post(f"/indexes/{name}/neighbors", json={"query": "king", "vector": [1.0]}),
                 422, "invalid_request")
    assert_error(client.post(f"/indexes/{name}/analogy", json={"a": "man", "b": "king"}),
                 422, "invalid_request")
    assert_error(client.post(f"/indexes/{name}/neighbors", json={"query": "king", "colour": 1}),
                 422, "invalid_request")
    assert_error(client.post(f"/indexes/{name}/items", json={"items": [{"key": "x", "text": "y"}]}),
                 400, "not_a_corpus")
    assert_error(client.get("/no/such/route"), 404, "not_found")
    assert_error(client.get(f"/indexes/{name}/neighbors"), 405, "method_not_allowed")


def test_sql_needs_the_flag_and_is_sandboxed(served, notes):
    with TestClient(create_app(served)) as client:
        assert "--allow-sql" in assert_error(
            client.post(f"/indexes/{notes.name}/neighbors", json={"query": "money", "where": "1"}),
            403, "sql_not_allowed")
    with TestClient(create_app(served, allow_sql=True)) as client:
        message = assert_error(client.post(f"/indexes/{notes.name}/neighbors", json={
            "query": "money", "where": "id IN (SELECT rootpage FROM sqlite_master)"}), 400, "bad_filter")
        assert "sqlite_master" in message


def test_limits_on_batch_and_body_size(served, words):
    limits = Limits(max_batch=3, max_body_bytes=500)
    path = f"/indexes/{words.name}/search"
    big = json.dumps({"queries": [[0.1] * 50] * 3}).encode()
    with TestClient(create_app(served, limits=limits)) as client:
        assert_error(client.post(path, json={"queries": ["a", "b", "c", "d"]}), 400, "limit_exceeded")
        assert_error(client.post(path, content=big, headers={"content-type": "application/json"}),
                     413, "body_too_large")
    with running_server(served, limits=limits) as url, httpx.Client(base_url=url) as client:
        chunked = client.post(path, content=iter([big[:300], big[300:]]),  # no Content-Length
                              headers={"content-type": "application/json"})
        assert_error(chunked, 413, "body_too_large")


def test_api_keys(served, words, notes):
    app = create_app(served, api_key=WRITE_KEY, read_api_key=READ_KEY)
    path = f"/indexes/{words.name}/neighbors"
    with TestClient(app) as client:
        missing = client.post(path, json={"query": "king"})
        assert_error(missing, 401, "unauthorized")
        assert missing.headers["www-authenticate"] == "Bearer"
        assert_error(client.post(path, json={"query": "king"}, headers={"Authorization": "Bearer nope"}),
                     401, "unauthorized")
        for key in (READ_KEY, WRITE_KEY):
            assert client.post(path, json={"query": "king"},
                               headers={"Authorization": f"Bearer {key}"}).status_code == 200
        write = client.post(f"/indexes/{notes.name}/items/delete", json={"keys": ["doc1"]},
                            headers={"Authorization": f"Bearer {READ_KEY}"})
        assert "write key" in assert_error(write, 403, "forbidden")
        assert client.get("/").status_code == 200  # the explorer page itself is public


def test_a_bug_is_a_500_with_a_logged_request_id(served, monkeypatch, caplog):
    import embedsearch.server.routes_read as routes

    def broken(index):
        raise RuntimeError("a bug")

    monkeypatch.setattr(routes, "index_info", broken)
    with TestClient(create_app(served), raise_server_exceptions=False) as client, \
            caplog.at_level(logging.ERROR, logger="embedsearch.server"):
        response = client.get(f"/indexes/{Path(served[0]).name}")
    request_id = response.headers["x-request-id"]
    assert request_id in assert_error(response, 500, "internal_error")
    assert "a bug" not in response.text
    assert any(request_id in record.getMessage() for record in caplog.records)


def test_openapi_schema_and_docs(test_client):
    schema = test_client.get("/openapi.json").json()
    paths = schema["paths"]
    for route in ("neighbors", "analogy", "similarity", "doesnt-match", "search", "projection",
                  "items", "items/delete"):
        operation = paths[f"/indexes/{{name}}/{route}"]["post"]
        body = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
        assert schema["components"]["schemas"][body].get("examples"), f"{route} has no example"
    assert "/indexes" in paths and test_client.get("/docs").status_code == 200


# -- binding ---------------------------------------------------------------------------------


def test_binding_beyond_loopback_needs_a_key():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4")
    with pytest.raises(InputError, match="--api-key"):
        check_bind("0.0.0.0", None, None)
    check_bind("0.0.0.0", "key", None)
    check_bind("127.0.0.1", None, None)


def test_accepted_connections_send_without_delay():
    """asyncio (under uvicorn) turns Nagle off only on sockets that say they are TCP; with it on,
    each keep-alive response waited ~40 ms for the client's delayed ACK."""
    seen = []

    async def serve_one():
        listening = bind_socket("127.0.0.1", 0)
        accepted = asyncio.Event()

        def on_connection(reader, writer):
            connection = writer.get_extra_info("socket")
            seen.append(connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()
            accepted.set()

        server = await asyncio.start_server(on_connection, sock=listening)
        _, writer = await asyncio.open_connection(*listening.getsockname())
        await asyncio.wait_for(accepted.wait(), 10)
        writer.close()
        server.close()
        await server.wait_closed()

    asyncio.run(serve_one())
    assert seen and seen[0] != 0


def test_cli_serve_refuses_a_public_address_without_a_key(word_index_path, monkeypatch):
    monkeypatch.delenv("EMBEDSEARCH_API_KEY", raising=False)
    monkeypatch.delenv("EMBEDSEARCH_READ_API_KEY", raising=False)
    result = CliRunner().invoke(cli_app, ["serve", str(word_index_path), "--host", "0.0.0.0"])
    assert result.exit_code != 0
    assert "refusing to serve on 0.0.0.0 without an API key" in str(result.exception)


def test_several_worker_processes_answer_on_one_port(served, words):
    """`serve --workers 2`: two processes share the listening socket and answer alike."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "embedsearch", "serve", *map(str, served),
                                "--port", str(free_port), "--workers", "2"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{free_port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{url}/indexes", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline, \
                    process.stdout.read() if process.poll() is not None else "no answer in 60 s"
                time.sleep(0.2)
        expected = hits_payload(words, query.neighbors(words, "computer", k=7))
        for _ in range(20):  # fresh connections, spread over both workers by the kernel
            answer = httpx.post(f"{url}/indexes/{words.name}/neighbors",
                                json={"query": "computer", "k": 7}, timeout=10)
            assert answer.status_code == 200 and answer.json() == expected
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
        commands = [Path(f"/proc/{child}/cmdline").read_bytes() for child in children]
        assert sum(b"spawn_main" in command for command in commands) == 2  # not the resource tracker
    finally:
        process.terminate()
        process.wait(30)
    assert process.returncode == 0
