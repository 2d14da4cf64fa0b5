"""A server that stays up, through a real uvicorn server on loopback: superseded versions are
closed (no descriptor leak), writes that change nothing publish nothing, and the encoder is
loaded once per fingerprint however many versions and concurrent text queries there are."""

from __future__ import annotations

import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import httpx
import pytest

from embedsearch.encoders import load_encoder
from embedsearch.indexing.build import build_corpus_index
from embedsearch.server import Limits

TEXTS = ["the river bank was flooded after the storm", "the bank raised its interest rates",
         "a computer program sorts the list", "the king and the queen rode to the castle",
         "fresh bread from the bakery", "stocks fell on the market today"]


@contextmanager
def serving(names, **settings):
    """A real uvicorn server on a free loopback port, in a thread: (base URL, the app)."""
    from embedsearch.server.run import make_server

    server, sock = make_server(names, host="127.0.0.1", port=0, log_level="warning", **settings)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            assert thread.is_alive(), "the server did not start"
            thread.join(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", server.config.app
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture
def notes(tmp_path, vectors_file):
    corpus = tmp_path / "notes.jsonl"
    corpus.write_text("".join(json.dumps({"id": f"doc{i}", "text": t}) + "\n"
                              for i, t in enumerate(TEXTS)))
    path = tmp_path / "notes"
    build_corpus_index(corpus, load_encoder(str(vectors_file)), path, key_field="id",
                       show_progress=False)
    return path


@pytest.fixture
def live(notes):
    with serving([str(notes)], limits=Limits(max_k=100)) as (url, app), \
            httpx.Client(base_url=url, timeout=60) as client:
        yield client, app


def open_descriptors(directory) -> tuple[int, int]:
    """(descriptors this process holds, of which on deleted files under `directory`)."""
    targets = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            targets.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            pass
    return len(targets), sum(t.startswith(str(directory)) and t.endswith("(deleted)")
                             for t in targets)


def test_superseded_versions_are_closed(live, notes):
    client, _ = live
    assert client.post("/indexes/notes/neighbors", json={"query": "river", "k": 3}).status_code == 200
    before, _ = open_descriptors(notes)
    for write in range(30):
        body = {"items": [{"key": f"new{write}", "text": f"the storm hit the river bank {write}"}]}
        assert client.post("/indexes/notes/items", json=body).status_code == 200
        assert client.post("/indexes/notes/neighbors",
                           json={"query": "bank river", "k": 3}).status_code == 200
        assert client.get("/indexes").status_code == 200
    after, deleted = open_descriptors(notes)
    assert deleted == 0
    assert after <= before + 4  # a few sockets may come and go; 30 leaked versions would be 60+


def test_writes_that_change_nothing_publish_nothing(live):
    client, _ = live
    version = client.get("/indexes/notes").json()["version"]
    answer = client.post("/indexes/notes/items/delete", json={"keys": ["no-such-key"]})
    assert answer.status_code == 200 and answer.json()["deleted"] == 0
    assert answer.json()["missing"] == ["no-such-key"] and answer.json()["version"] == version
    answer = client.post("/indexes/notes/items", json={"items": [{"key": "x", "text": "qzxv wqpt"}]})
    assert answer.status_code == 200 and answer.json()["added"] == 0
    assert answer.json()["version"] == version
    same = {"key": "doc0", "text": TEXTS[0]}
    answer = client.post("/indexes/notes/items", json={"items": [same]})
    assert answer.json()["unchanged"] == 1 and answer.json()["version"] == version
    assert client.get("/indexes/notes").json()["version"] == version


def test_the_encoder_is_loaded_once_across_versions_and_concurrent_queries(live, monkeypatch):
    from embedsearch.query import terms

    loads = []
    real = terms.load_index_encoder
    monkeypatch.setattr(terms, "load_index_encoder",
                        lambda *args, **kwargs: loads.append(1) or real(*args, **kwargs))
    client, app = live

    def text_query(_):
        return client.post("/indexes/notes/neighbors",
                           json={"query": "storm over the castle", "k": 3}).status_code

    for write in range(3):
        body = {"items": [{"key": f"new{write}", "text": f"bread and stocks {write}"}]}
        assert client.post("/indexes/notes/items", json=body).status_code == 200
        with ThreadPoolExecutor(8) as pool:
            assert set(pool.map(text_query, range(16))) == {200}
    assert len(loads) <= 1


@pytest.mark.parametrize("body", [
    '{"items": [{"key": "n", "text": "river bank", "metadata": {"x": NaN}}]}',
    '{"items": [{"key": "n", "text": "river bank", "metadata": {"x": -Infinity}}]}',
    '{"items": [{"key": "n", "text": "river bank", "metadata": {"x": 1e999}}]}',
    '{"items": [{"key": "n", "text": "river bank", "metadata": {"x": 99999999999999999999}}]}',
    '{"items": [{"key": "n", "text": "river bank", "metadata": {"x": "\\ud800"}}]}',
    '{"items": [{"key": "n", "text": "river bank", "metadata": {"x": ' + "[" * 3000 + "]" * 3000
    + '}}]}',
])
def test_unstorable_json_is_refused_and_never_reaches_the_index(live, body):
    client, _ = live
    answer = client.post("/indexes/notes/items", content=body,
                         headers={"content-type": "application/json"})
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "bad_json"
    assert len(answer.text) < 500
    hits = client.post("/indexes/notes/neighbors", json={"query": "river bank", "k": 10})
    assert hits.status_code == 200 and "n" not in [hit["key"] for hit in hits.json()]
    assert client.post("/indexes/notes/neighbors",
                       json={"query": "bank", "filter": {"x": 1}}).status_code == 200


@pytest.mark.parametrize("vector", ["NaN", "Infinity", "1e999"])
def test_a_non_finite_query_vector_is_refused(live, vector):
    client, _ = live
    body = '{"vector": [' + ", ".join(["0.5"] * 49 + [vector]) + '], "k": 3}'
    answer = client.post("/indexes/notes/neighbors", content=body,
                         headers={"content-type": "application/json"})
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "bad_json"


def test_a_keyless_server_answers_only_requests_for_this_machine(notes):
    with serving([str(notes)], allowed_hosts=["search.example.org"]) as (url, _), \
            httpx.Client(base_url=url, timeout=30) as client:
        rebinding = {"host": "evil.example:18250", "origin": "http://evil.example:18250"}
        answer = client.post("/indexes/notes/items/delete", json={"keys": ["doc0"]},
                             headers=rebinding)
        assert answer.status_code == 403 and answer.json()["error"]["code"] == "host_not_allowed"
        assert client.get("/indexes", headers=rebinding).status_code == 403
        for host in ("localhost:1", "127.0.0.1", "[::1]:80", "LOCALHOST", "search.example.org"):
            assert client.get("/indexes", headers={"host": host}).status_code == 200, host
        assert client.get("/indexes/notes").json()["count"] == len(TEXTS)


def test_a_server_with_keys_answers_any_host(notes):
    with serving([str(notes)], api_key="secret") as (url, _), \
            httpx.Client(base_url=url, timeout=30) as client:
        answer = client.get("/indexes", headers={"host": "search.example.org",
                                                 "authorization": "Bearer secret"})
        assert answer.status_code == 200
