"""The whole-index map by UMAP (query.layout_umap): fitted on a sample in a child process,
the rest placed from the sample, neighbourhoods kept better than by PCA, computed once per
index version and method, cached beside the index and reused by a new server."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from fastapi.testclient import TestClient

from embedsearch.encoders import WordVectors
from embedsearch.index import Index
from embedsearch.indexing.build import build_vocabulary_index
from embedsearch.query.layout import compute_layout, compute_layout_apart, layout_path
from embedsearch.query.layout_umap import umap_installed
from embedsearch.query.projection import _reduce
from embedsearch.server.app import create_app

pytestmark = pytest.mark.skipif(not umap_installed(), reason="umap-learn is not installed")

WORDS = 3000
FIT = 1500  # half the words fitted, the other half placed from them


@pytest.fixture(scope="module")
def small_index(glove_slice, tmp_path_factory):
    words = WordVectors(glove_slice.words[:WORDS], np.array(glove_slice.vectors[:WORDS]),
                        name="glove-3k")
    path = tmp_path_factory.mktemp("umap") / "glove-3k"
    build_vocabulary_index(words, path, show_progress=False)
    return path


def kept_neighbours(index: Index, layout, rows: np.ndarray, k: int = 10) -> float:
    """Mean share of each row's k nearest items (cosine) that are also among its k nearest
    on the map."""
    vectors = index.vectors_of(layout.item_ids)
    shares = []
    for row in rows:
        near = set(np.argsort(-(vectors @ vectors[row]))[1:k + 1])
        on_map = np.linalg.norm(layout.coordinates - layout.coordinates[row], axis=1)
        shares.append(len(near & set(np.argsort(on_map)[1:k + 1])) / k)
    return float(np.mean(shares))


def test_umap_keeps_neighbourhoods_and_places_the_rest(small_index):
    progress = []
    with Index.open(small_index) as index:
        layout = compute_layout_apart(index, "umap", progress.append, fit_sample=FIT)
        pca = compute_layout(index, "pca")
        assert layout.method == "umap" and layout.count == WORDS
        assert np.array_equal(layout.item_ids, np.arange(WORDS))
        assert np.abs(layout.coordinates).max() < 1.0 and np.isfinite(layout.coordinates).all()
        assert progress == sorted(progress) and progress[-1] > 0.9
        fitted = set(layout.projection.sample_ids.tolist())
        assert len(fitted) == FIT
        rows = np.random.default_rng(1).choice(WORDS, 150, replace=False)
        umap_share, pca_share = kept_neighbours(index, layout, rows), kept_neighbours(index, pca, rows)
        assert umap_share > 1.5 * pca_share and umap_share > 0.15, (umap_share, pca_share)
        placed = [row for row in range(WORDS) if row not in fitted][:200]
        # an item outside the sample is placed as a query would be, next to its nearest fitted item
        assert np.allclose(layout.place(index.vectors_of(placed)), layout.coordinates[placed], atol=1e-5)
        sample_rows = layout.projection.sample_ids
        nearest = np.argmax(index.vectors_of(placed) @ index.vectors_of(sample_rows).T, axis=1)
        gap = np.linalg.norm(layout.coordinates[placed] - layout.coordinates[sample_rows[nearest]], axis=1)
        spread = np.linalg.norm(layout.coordinates - layout.coordinates.mean(axis=0), axis=1).mean()
        assert np.median(gap) < 0.2 * spread


def wait_ready(client, path: str, meanwhile=lambda: None, timeout: float = 300) -> dict:
    """The map's state once ready, with the progress seen while it was computing; calls
    `meanwhile` at each poll."""
    state = client.get(path).json()
    deadline = time.time() + timeout
    seen = []
    while state["state"] != "ready":
        assert state["state"] == "computing" and 0 <= state["progress"] <= 1
        assert time.time() < deadline, "the map was not computed in time"
        seen.append(state["progress"])
        meanwhile()
        time.sleep(0.2)
        state = client.get(path).json()
    return state | {"seen": seen}


def test_the_umap_map_is_computed_once_cached_and_reused(small_index):
    with TestClient(create_app([str(small_index)]), base_url="http://localhost") as client:
        assert "umap" in client.get("/explorer/capabilities").json()["map_methods"]
        started = time.perf_counter()
        answered = []

        def query():  # queries are answered while the layout computes in its child process
            began = time.perf_counter()
            hits = client.post("/indexes/glove-3k/neighbors", json={"query": "king", "k": 3})
            answered.append((hits.status_code, time.perf_counter() - began))

        state = wait_ready(client, "/indexes/glove-3k/map?method=umap", query)
        assert state["method"] == "umap" and state["count"] == WORDS and state["seen"]
        assert answered and all(code == 200 and seconds < 2 for code, seconds in answered), answered
        umap_points = client.get("/indexes/glove-3k/map/points", params={"method": "umap"}).content
        pca_state = wait_ready(client, "/indexes/glove-3k/map")
        assert pca_state["method"] == "pca"
        assert client.get("/indexes/glove-3k/map/points").content != umap_points
        placed = client.post("/indexes/glove-3k/map/locate?method=umap", json={"terms": ["king"]}).json()
        assert placed["terms"][0]["term"] == "king"
        assert client.get("/indexes/glove-3k/map?method=tsne").status_code == 400
        first_seconds = time.perf_counter() - started
    with Index.open(small_index) as index:
        saved = layout_path(index, "umap")
        assert saved.is_file() and layout_path(index, "pca").is_file()
        stamp = saved.stat().st_mtime_ns
    started = time.perf_counter()
    with TestClient(create_app([str(small_index)]), base_url="http://localhost") as client:
        state = client.get("/indexes/glove-3k/map", params={"method": "umap"}).json()
        assert state["state"] == "ready"  # a new server reads it from .maps, at once
        assert client.get("/indexes/glove-3k/map/points", params={"method": "umap"}).content == umap_points
    assert saved.stat().st_mtime_ns == stamp and time.perf_counter() - started < first_seconds


def test_a_neighbourhood_umap_runs_apart_and_never_stalls_the_caller():
    """The neighbourhood map's UMAP runs in its worker process: numba compiling there cannot
    hold this process's lock, so another thread keeps running meanwhile; the answer is seeded."""
    vectors = np.random.default_rng(0).normal(size=(40, 50)).astype(np.float32)
    stalls, done = [], threading.Event()

    def ticker():
        while not done.is_set():
            start = time.perf_counter()
            time.sleep(0.02)
            stalls.append(time.perf_counter() - start)

    thread = threading.Thread(target=ticker)
    thread.start()
    try:
        first = _reduce(vectors, "umap", list(range(1, 40)))
        again = _reduce(vectors, "umap", list(range(1, 40)))
    finally:
        done.set()
        thread.join()
    assert first.shape == (40, 2) and np.isfinite(first).all() and np.allclose(first, again)
    assert max(stalls) < 2.0  # compiling in this process stalls it for tens of seconds
