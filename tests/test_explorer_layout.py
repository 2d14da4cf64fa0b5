"""The whole-index map's layout (query.layout) and its HTTP routes (server.routes_map): PCA
against scikit-learn's, every item placed, saved beside the index and reused, replaced when a
new version is published, never inside a checksummed version folder."""

from __future__ import annotations

import json
import shutil
import time

import numpy as np
import pytest
from fastapi.testclient import TestClient

from embedsearch.encoders import load_encoder
from embedsearch.index import Index
from embedsearch.indexing.add import upsert_items
from embedsearch.indexing.build import build_corpus_index
from embedsearch.query import layout as layout_module
from embedsearch.query.layout import compute_layout, index_layout, layout_path, load_layout
from embedsearch.server.app import create_app


@pytest.fixture(scope="module")
def word_layout(word_index_path):
    with Index.open(word_index_path) as index:
        yield index, compute_layout(index)


def test_pca_axes_agree_with_scikit_learn(word_layout):
    from sklearn.decomposition import PCA

    index, layout = word_layout
    rng = np.random.default_rng(layout_module.SEED)
    fit_ids = np.sort(rng.choice(layout.item_ids, min(layout_module.FIT_SAMPLE, index.count),
                                 replace=False))
    reference = PCA(n_components=2).fit(index.vectors_of(fit_ids))
    for ours, theirs in zip(layout.projection.axes, reference.components_):
        assert abs(float(np.dot(ours, theirs))) == pytest.approx(1.0, abs=1e-4)  # same axis, up to sign


def test_every_item_is_placed_most_frequent_first(word_layout):
    index, layout = word_layout
    assert layout.count == index.count and layout.coordinates.shape == (index.count, 2)
    assert np.array_equal(layout.item_ids, np.arange(index.count))  # GloVe lists words by frequency
    assert np.abs(layout.coordinates).max() < 1.0
    inside = np.abs(layout.coordinates).max(axis=1) <= layout_module.KNEE
    assert inside.mean() > 0.97  # the central points fill the square, outliers are squeezed
    assert np.sum(np.abs(layout.coordinates) > 0.99) < 0.001 * index.count  # no wall at the edge
    sample = [0, 17, 4_000, index.count - 1]
    assert np.allclose(layout.place(index.vectors_of(sample)), layout.coordinates[sample], atol=1e-5)


def test_rows_in_a_box(word_layout):
    _, layout = word_layout
    rows = layout.rows_in(0.0, 0.5, -0.2, 0.3, start=100, limit=50)
    points = layout.coordinates[rows]
    assert len(rows) == 50 and rows.min() >= 100 and np.all(np.diff(rows) > 0)
    assert np.all((points[:, 0] >= 0) & (points[:, 0] <= 0.5) & (points[:, 1] >= -0.2) & (points[:, 1] <= 0.3))


@pytest.fixture
def corpus_copy(tmp_path, vectors_file):
    (tmp_path / "notes.jsonl").write_text("".join(
        json.dumps({"id": f"note{i}", "text": text}) + "\n" for i, text in enumerate(
            ["the river bank was flooded", "the bank raised interest rates", "bread from the bakery",
             "the team won the final", "rain and wind all week"])))
    path = tmp_path / "notes"
    build_corpus_index(tmp_path / "notes.jsonl", load_encoder(str(vectors_file)), path,
                       key_field="id", show_progress=False)
    return path


def test_saved_beside_the_versions_reused_and_replaced_by_a_new_version(corpus_copy):
    with Index.open(corpus_copy) as index:
        first = index_layout(index)
        saved = layout_path(index)
        assert saved.parent == corpus_copy / ".maps" and saved.is_file()
        again = load_layout(index)
        assert np.array_equal(again.coordinates, first.coordinates)
        assert np.array_equal(again.item_ids, first.item_ids)
    with Index.open(corpus_copy) as index:  # the version's checksums still hold
        assert index.count == 5
    from embedsearch.corpus import Item

    upsert_items(corpus_copy, [Item(key="note9", text="a new note about the river")])
    with Index.open(corpus_copy) as index:
        assert load_layout(index) is None  # a new version: the old layout no longer applies
        newer = index_layout(index)
        assert newer.count == 6
        assert sorted(p.name for p in (corpus_copy / ".maps").iterdir()) == [layout_path(index).name]


def test_the_map_routes(corpus_copy, monkeypatch):
    monkeypatch.setattr(layout_module, "SHOWN", 3)
    with TestClient(create_app([str(corpus_copy)]), base_url="http://localhost") as client:
        state = client.get("/indexes/notes/map").json()
        deadline = time.time() + 20
        while state["state"] != "ready" and time.time() < deadline:
            assert state["state"] == "computing" and 0 <= state["progress"] <= 1
            time.sleep(0.05)
            state = client.get("/indexes/notes/map").json()
        assert state["count"] == 5 and state["shown"] == 3 and state["method"] == "pca"
        body = client.get("/indexes/notes/map/points").content
        assert len(body) == 3 * 4 + 3 * 8
        ids = np.frombuffer(body[:12], dtype="<i4")
        keys = client.get("/indexes/notes/map/keys").json()
        with Index.open(corpus_copy) as index:
            assert keys == [index.keys_of(ids.tolist())[i] for i in ids.tolist()]
        texts = client.get("/indexes/notes/map/keys", params={"field": "text"}).json()
        with Index.open(corpus_copy) as index:
            rows = index.items.rows(ids.tolist())
        assert texts == [rows[i]["text"][:40] for i in ids.tolist()]
        region = client.get("/indexes/notes/map/region",
                            params={"x0": -1, "x1": 1, "y0": -1, "y1": 1}).json()
        assert len(region["ids"]) == 2 and not set(region["ids"]) & set(ids.tolist())
        placed = client.post("/indexes/notes/map/locate",
                             json={"terms": ["note1", "qzxwvk", "river bank"], "ids": [ids[0].item()]}).json()
        assert [t["term"] for t in placed["terms"]] == ["note1", "river bank"]  # the unknown word is left out
        assert placed["points"][0]["key"] == keys[0] and "text" in placed["points"][0]
        assert client.get("/indexes/notes/map/region", params={"x0": -3, "x1": 1, "y0": -1, "y1": 1}
                          ).status_code == 422
        assert client.get("/explorer/capabilities").json()["projections"][0] == "pca"


def test_a_read_only_copy_keeps_its_layout_in_memory(corpus_copy, tmp_path):
    with Index.open(corpus_copy) as index:
        layout = compute_layout(index)
    blocker = tmp_path / "blocked"
    shutil.copytree(corpus_copy, blocker)
    (blocker / ".maps").write_text("not a folder")  # the cache folder cannot be made
    with Index.open(blocker) as index:
        assert not layout_module.save_layout(index, layout)
        assert load_layout(index) is None
        assert index_layout(index).count == 5
