"""A server that stays up, through a real uvicorn server on loopback: superseded versions are
closed (no descriptor leak), writes that change nothing publish nothing, and the encoder is
loaded once per fingerprint however many versions and concurrent text queries there are."""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from embedsearch.encoders import load_encoder
from embedsearch.indexing.build import build_corpus_index
from embedsearch.server import Limits
from helpers import serving

TEXTS = ["the river bank was flooded after the storm", "the bank raised its interest rates",
         "a computer program sorts the list", "the king and the queen rode to the castle",
         "fresh bread from the bakery", "stocks fell on the market today"]


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


@pytest.fixture(scope="module")
def sql_server(tmp_path_factory, vectors_file, word_index_path):
    """One server over a vocabulary and a corpus index, with raw SQL filters allowed."""
    folder = tmp_path_factory.mktemp("robust")
    corpus = folder / "notes.jsonl"
    corpus.write_text("".join(json.dumps({"id": f"doc{i}", "text": t, "year": 2020 + i}) + "\n"
                              for i, t in enumerate(TEXTS)))
    build_corpus_index(corpus, load_encoder(str(vectors_file)), folder / "notes", key_field="id",
                       show_progress=False)
    with serving([str(word_index_path), str(folder / "notes")], allow_sql=True) as (url, app), \
            httpx.Client(base_url=url, timeout=60) as client:
        yield client


def error_code(answer, status: int) -> str:
    assert answer.status_code == status, answer.text
    assert len(answer.text) < 1000
    return answer.json()["error"]["code"]


def test_work_per_request_is_bounded(sql_server):
    words = "glove-slice"
    answer = sql_server.post(f"/indexes/{words}/search", json={"queries": ["king"] * 1000, "k": 100})
    assert error_code(answer, 400) == "limit_exceeded" and "queries x k" in answer.text
    answer = sql_server.post(f"/indexes/{words}/neighbors",
                             json={"query": "king", "exclude": [f"w{i}" for i in range(1001)]})
    assert error_code(answer, 400) == "limit_exceeded"
    long_where = "text = '" + "a" * 5000 + "'"
    answer = sql_server.post("/indexes/notes/neighbors", json={"query": "bank", "where": long_where})
    assert error_code(answer, 400) == "limit_exceeded"
    answer = sql_server.post("/indexes/notes/neighbors",
                             json={"query": "bank", "filter": {"text": {"$contains": "a" * 1001}}})
    assert error_code(answer, 400) == "limit_exceeded"


@pytest.mark.parametrize("selected", ["'a'", "NULL", "1e30", "999999"])
def test_a_sql_filter_that_selects_other_values_is_a_400(sql_server, selected):
    answer = sql_server.post("/indexes/notes/neighbors",
                             json={"query": "bank", "where": f"1 UNION SELECT {selected}"})
    assert error_code(answer, 400) == "bad_filter"


@pytest.mark.parametrize("name", ["%00notes", "x" * 300, "notes.jsonl", "..", "%2e%2e"])
def test_odd_index_names_are_a_404_in_serve_everything_mode(tmp_path, monkeypatch, name):
    monkeypatch.setenv("EMBEDSEARCH_HOME", str(tmp_path))
    (tmp_path / "notes.jsonl").write_text("{}\n")
    with serving(None) as (url, _), httpx.Client(base_url=url, timeout=30) as client:
        answer = client.post(f"/indexes/{name}/neighbors", json={"query": "bank"})
        assert answer.status_code in (404, 405) and len(answer.text) < 1000
        assert client.get("/indexes").json() == []


@pytest.mark.parametrize("vector", [[3e38] * 50, [0.0] * 50, [1e-45] * 50, [1e308] * 50])
def test_degenerate_vectors(sql_server, word_index_path, vector):
    answer = sql_server.post("/indexes/glove-slice/neighbors", json={"vector": vector, "k": 3})
    if vector[0] == 3e38:  # long, but it has a direction: it is normalised like any other
        same = sql_server.post("/indexes/glove-slice/neighbors", json={"vector": [1.0] * 50, "k": 3})
        assert answer.status_code == 200 and answer.json() == same.json()
        assert answer.json()[0]["score"] > 0
    else:
        assert error_code(answer, 400) == "bad_vector"


@pytest.mark.parametrize("body", [{"query": "king", "k": True}, {"query": "king", "k": "5"},
                                  {"query": "king", "exclude": [""]}, {}])
def test_the_models_refuse_what_the_server_cannot_answer(sql_server, body):
    answer = sql_server.post("/indexes/glove-slice/neighbors", json=body)
    assert error_code(answer, 422) == "invalid_request"


def test_errors_are_short_carry_allow_and_no_server_paths(sql_server, tmp_path):
    answer = sql_server.post("/indexes/glove-slice/neighbors", json={"query": "qzx" * 300_000})
    assert error_code(answer, 404) == "unknown_term"
    answer = sql_server.get("/indexes/glove-slice/neighbors")
    assert error_code(answer, 405) == "method_not_allowed" and answer.headers["allow"] == "POST"


def test_an_unavailable_index_names_no_server_folder(tmp_path, vectors_file):
    corpus = tmp_path / "notes.jsonl"
    corpus.write_text(json.dumps({"text": "the river bank"}) + "\n")
    build_corpus_index(corpus, load_encoder(str(vectors_file)), tmp_path / "notes",
                       show_progress=False)
    with serving([str(tmp_path / "notes")]) as (url, _), \
            httpx.Client(base_url=url, timeout=30) as client:
        for items in (tmp_path / "notes").glob("v*/items.db"):
            items.write_bytes(b"not a database" * 100)
        answer = client.post("/indexes/notes/neighbors", json={"query": "river"})
        assert error_code(answer, 503) == "index_unavailable"
        assert str(tmp_path) not in answer.text
        assert str(tmp_path) not in client.get("/indexes").text


def test_slow_clients_are_cut_off(notes, monkeypatch):
    import socket
    import time

    from embedsearch.server import slow_clients

    monkeypatch.setattr(slow_clients, "REQUEST_READ_SECONDS", 0.5)
    with serving([str(notes)]) as (url, _):
        port = int(url.rsplit(":", 1)[1])
        trickling = socket.create_connection(("127.0.0.1", port))
        trickling.sendall(b"POST /indexes/notes/neighbors HTTP/1.1\r\nHost: localhost\r\n")
        started = time.monotonic()
        for _ in range(30):  # a header byte every 0.1 s: never a whole request
            try:
                trickling.sendall(b"X")
            except OSError:
                break
            time.sleep(0.1)
        trickling.settimeout(5)
        try:
            closed = trickling.recv(100) == b""
        except ConnectionResetError:
            closed = True
        assert closed and time.monotonic() - started < 2.5
        with httpx.Client(base_url=url, timeout=30) as client:  # whole requests still answered
            assert client.post("/indexes/notes/neighbors", json={"query": "bank"}).status_code == 200
