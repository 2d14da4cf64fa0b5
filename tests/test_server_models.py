"""Every route's actual JSON is exactly its declared response model (no key missing, none
extra, types as declared), through a real uvicorn server: the models in `server/models.py`
describe what the serializer (`query.results`) writes, and a change to one without the other
fails here. A new route must be added to CALLS, or this test fails."""

from __future__ import annotations

import json

import httpx
import pytest
from fastapi.routing import APIRoute
from pydantic import TypeAdapter

from embedsearch.encoders import load_encoder
from embedsearch.indexing.build import build_corpus_index
from embedsearch.server.models import ErrorResponse
from embedsearch.server.routes_read import router as read_router
from embedsearch.server.routes_write import router as write_router
from test_server_robust import TEXTS, serving

# (method, path) -> [(index, body)]: each call whose answer is checked against the model.
CALLS = {
    ("GET", "/indexes"): [(None, None)],
    ("POST", "/indexes/{name}/neighbors"): [("glove-slice", {"query": "computer", "k": 3}),
                                            ("notes", {"query": "river bank", "k": 3})],
    ("POST", "/indexes/{name}/analogy"): [("glove-slice", {"a": "man", "b": "king",
                                                           "c": "woman", "k": 3})],
    ("POST", "/indexes/{name}/similarity"): [("glove-slice", {"terms": ["king", "queen"]}),
                                             ("glove-slice", {"terms": ["king", "queen xqzv", "prince"]})],
    ("POST", "/indexes/{name}/doesnt-match"): [("glove-slice", {"words": ["breakfast", "cereal",
                                                                         "dinner", "lunch"]})],
    ("POST", "/indexes/{name}/search"): [("notes", {"queries": ["king", "bank"], "k": 2})],
    ("POST", "/indexes/{name}/projection"): [("glove-slice", {"query": "computer", "k": 5}),
                                             ("notes", {"sample": 4})],
    ("POST", "/indexes/{name}/axes"): [("glove-slice", {"query": "king", "k": 5,
                                                        "x": {"start": "man", "end": "woman"},
                                                        "y": {"start": "poor", "end": "rich"}})],
    ("POST", "/indexes/{name}/items"): [("notes", {"items": [{"key": "n1", "text": "river",
                                                              "metadata": {"year": 2024}}]})],
    ("POST", "/indexes/{name}/items/delete"): [("notes", {"keys": ["n1", "missing"]})],
}
UNTYPED = {("GET", "/indexes/{name}")}  # the manifest, whose fields index/manifest.py defines


@pytest.fixture(scope="module")
def served(tmp_path_factory, vectors_file, word_index_path):
    folder = tmp_path_factory.mktemp("models")
    corpus = folder / "notes.jsonl"
    corpus.write_text("".join(json.dumps({"id": f"doc{i}", "text": t, "year": 2020 + i}) + "\n"
                              for i, t in enumerate(TEXTS)))
    build_corpus_index(corpus, load_encoder(str(vectors_file)), folder / "notes", key_field="id",
                       show_progress=False)
    return [str(word_index_path), str(folder / "notes")]


def api_routes():
    return {(method, route.path): route for route in read_router.routes + write_router.routes
            if isinstance(route, APIRoute) for method in route.methods}


def test_every_route_is_checked():
    assert set(api_routes()) == set(CALLS) | UNTYPED


def test_every_answer_is_exactly_its_model(served):
    routes = api_routes()
    with serving(served) as (url, _), httpx.Client(base_url=url, timeout=60) as client:
        for (method, path), calls in CALLS.items():
            model = TypeAdapter(routes[method, path].response_model)
            for name, body in calls:
                answer = client.request(method, path.replace("{name}", name or ""), json=body)
                assert answer.status_code == 200, (path, answer.text)
                model.validate_python(answer.json(), strict=True)
        answer = client.post("/indexes/glove-slice/neighbors", json={"query": "qzxvw"})
        TypeAdapter(ErrorResponse).validate_python(answer.json(), strict=True)
