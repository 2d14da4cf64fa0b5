"""Reordering an HNSW graph renumbers its nodes and changes nothing a search can see.

The reference is the same graph left in insertion order. With one FAISS
thread an HNSW build is deterministic, so the store's index (reordered at
commit) and a bare FAISS index built from the same rows are the same graph.
Their answers must match exactly: ids and scores, with filters, with
tombstones, after a reopen and after more rows are added.
"""

from __future__ import annotations

import faiss
import numpy as np
import pytest

from helpers import clustered_unit_rows
from embedsearch.corpus import Item
from embedsearch.index import EncoderInfo, Index, IndexWriter, ann, faiss_types
from embedsearch.indexing.maintenance import compact
from embedsearch.index.reorder import REORDERED_PARAM, reorder, reorder_if_due

DIM = 16
N = 2000
PARAMS = {"M": 8, "efConstruction": 40, "efSearch": 32}
ENCODER = EncoderInfo(name="synthetic", kind="test", spec="synthetic", fingerprint="f0")


@pytest.fixture(autouse=True)
def one_thread():
    """Deterministic HNSW builds (FAISS inserts in parallel otherwise)."""
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(before)


def normalize_rows(n, seed, centres=40):
    return clustered_unit_rows(n, DIM, seed, centres)


def items(start, stop):
    return [Item(f"k{i}", f"text {i}", "s.txt", i, {"group": i % 3}) for i in range(start, stop)]


def bare_index(*batches):
    """The store's HNSW built by hand, never reordered; written and read between batches
    like the store (reading resets FAISS's level generator)."""
    index = faiss_types.create_faiss_index("hnsw", DIM, PARAMS)
    start = 0
    for batch in batches:
        index.add_with_ids(batch, np.arange(start, start + len(batch)))
        index = faiss.deserialize_index(faiss.serialize_index(index))
        start += len(batch)
    return index


def search(index, queries, k=10, selector=None):
    return index.search(queries, k, params=faiss_types.search_parameters(index, selector, PARAMS))


def level0_links(graph):
    """(nodes, 2M) level-0 neighbour lists of a bare IndexHNSW; -1 pads."""
    hnsw = graph.hnsw
    neighbours = faiss.vector_to_array(hnsw.neighbors)
    offsets = faiss.vector_to_array(hnsw.offsets)[:-1].astype(np.int64)
    return neighbours[offsets[:, None] + np.arange(hnsw.nb_neighbors(0))]


def test_reorder_renumbers_the_same_graph():
    vectors = normalize_rows(N, seed=0)
    plain = bare_index(vectors)
    reordered = faiss.clone_index(plain)
    permutation = reorder(reordered)

    assert sorted(permutation.tolist()) == list(range(N))
    assert not np.array_equal(permutation, np.arange(N))
    inner = faiss.downcast_index(reordered.index)
    # New node i is old node permutation[i]: same vector, same item id, same neighbours.
    assert np.array_equal(inner.storage.reconstruct_n(0, N), vectors[permutation])
    assert np.array_equal(faiss.vector_to_array(reordered.id_map), permutation)
    old_links = level0_links(faiss.downcast_index(plain.index))
    new_links = level0_links(inner)
    renamed = np.where(new_links >= 0, permutation[np.maximum(new_links, 0)], -1)
    assert np.array_equal(renamed, old_links[permutation])
    assert permutation[inner.hnsw.entry_point] == faiss.downcast_index(plain.index).hnsw.entry_point

    queries = normalize_rows(200, seed=1)
    plain_scores, plain_ids = search(plain, queries)
    scores, ids = search(reordered, queries)
    assert np.array_equal(ids, plain_ids) and np.array_equal(scores, plain_scores)


def test_graph_edges_become_short_in_memory():
    nodes = 8000  # 20 clusters
    plain = bare_index(normalize_rows(nodes, seed=0))
    reordered = faiss.clone_index(plain)
    reorder(reordered)

    def mean_edge_span(index):
        links = level0_links(faiss.downcast_index(index.index))
        own = np.broadcast_to(np.arange(nodes)[:, None], links.shape)
        return np.abs(links - own)[links >= 0].mean()

    # Insertion order is random with respect to space: an edge spans about a third of the nodes.
    # Measured: 2,667 before, 378 after.
    assert mean_edge_span(reordered) < 0.25 * mean_edge_span(plain)


def test_store_reorders_at_build_and_answers_like_the_plain_graph(tmp_path, monkeypatch):
    vectors, queries = normalize_rows(N, seed=0), normalize_rows(100, seed=1)
    with IndexWriter.create(tmp_path / "ix", ENCODER, DIM, index_type="hnsw",
                            index_params=PARAMS) as writer:
        writer.add(items(0, N), vectors)
    plain = bare_index(vectors)
    with Index.open(tmp_path / "ix") as index:
        assert index.manifest.index_params[REORDERED_PARAM] == N
        assert not np.array_equal(faiss.vector_to_array(index.faiss.id_map), np.arange(N))
        expected_scores, expected_ids = search(plain, queries)
        hits = index.search(queries, k=10)
        assert [[hit.id for hit in row] for row in hits] == expected_ids.tolist()
        assert np.array_equal([[hit.score for hit in row] for row in hits], expected_scores)
        assert hits[0][0].key == f"k{expected_ids[0, 0]}"

        # A filter runs inside the search, through the permuted id map (the graph's path, not the
        # exact one a filter keeping few items takes).
        monkeypatch.setattr(ann, "EXACT_FILTER_ROWS", 0)
        group = np.arange(0, N, 3)
        _, expected = search(plain, queries, selector=faiss_types.id_selector(group))
        filtered = index.search(queries, k=10, where="json_extract(metadata, '$.group') = 0")
        assert [[hit.id for hit in row] for row in filtered] == expected.tolist()


def test_tombstones_and_growth_after_a_reorder(tmp_path):
    first, second, third = normalize_rows(N, seed=0), normalize_rows(500, seed=2), normalize_rows(2000, seed=3)
    queries = normalize_rows(100, seed=1)
    path = tmp_path / "ix"
    with IndexWriter.create(path, ENCODER, DIM, index_type="hnsw", index_params=PARAMS) as writer:
        writer.add(items(0, N), first)

    deleted = np.arange(0, N, 7)
    with IndexWriter.update(path) as writer:
        writer.delete(ids=deleted)
        writer.add(items(N, N + len(second)), second)
    plain = bare_index(first, second)
    with Index.open(path) as index:
        # 2,500 nodes: not yet doubled since the reorder at 2,000, so appended as they came.
        assert index.manifest.index_params[REORDERED_PARAM] == N
        assert index.manifest.tombstones == len(deleted)
        _, expected = search(plain, queries, selector=faiss_types.excluding(deleted))
        hits = index.search(queries, k=10)
        assert [[hit.id for hit in row] for row in hits] == expected.tolist()
        assert not set(deleted) & {hit.id for row in hits for hit in row}
        new_hits = index.search(second[:20], k=1)
        assert [row[0].id for row in new_hits] == list(range(N, N + 20))

    with IndexWriter.update(path) as writer:
        writer.add(items(N + len(second), N + len(second) + len(third)), third)
    total = N + len(second) + len(third)
    plain = bare_index(first, second, third)
    with Index.open(path) as index:
        assert index.manifest.index_params[REORDERED_PARAM] == total  # doubled: reordered again
        expected_scores, expected = search(plain, queries, selector=faiss_types.excluding(deleted))
        hits = index.search(queries, k=10)
        assert [[hit.id for hit in row] for row in hits] == expected.tolist()
        assert np.array_equal([[hit.score for hit in row] for row in hits], expected_scores)


def test_compact_rebuilds_and_reorders_the_live_rows(tmp_path):
    vectors, queries = normalize_rows(N, seed=0), normalize_rows(100, seed=1)
    path = tmp_path / "ix"
    with IndexWriter.create(path, ENCODER, DIM, index_type="hnsw", index_params=PARAMS) as writer:
        writer.add(items(0, N), vectors)
    with IndexWriter.update(path) as writer:
        writer.delete(ids=np.arange(0, N, 2))
    compact(path)
    live = np.arange(1, N, 2)
    plain = faiss_types.create_faiss_index("hnsw", DIM, PARAMS)
    plain.add_with_ids(vectors[live], live)  # the rebuild adds the live rows in id order
    with Index.open(path) as index:
        assert index.manifest.tombstones == 0
        assert index.manifest.index_params[REORDERED_PARAM] == len(live)
        expected_scores, expected = search(plain, queries)
        hits = index.search(queries, k=10)
        assert [[hit.id for hit in row] for row in hits] == expected.tolist()
        assert np.array_equal([[hit.score for hit in row] for row in hits], expected_scores)


def test_due_only_when_the_graph_has_doubled():
    small = bare_index(normalize_rows(700, seed=0))
    assert REORDERED_PARAM not in reorder_if_due(small, dict(PARAMS), fresh=True)  # one cluster
    index = bare_index(normalize_rows(N, seed=0))
    before = faiss.vector_to_array(index.id_map).copy()
    kept = reorder_if_due(index, {**PARAMS, REORDERED_PARAM: 1500}, fresh=False)
    assert kept[REORDERED_PARAM] == 1500
    assert np.array_equal(faiss.vector_to_array(index.id_map), before)
    # A fresh graph (compact, reindex) was never reordered, whatever the old params say.
    assert reorder_if_due(index, {**PARAMS, REORDERED_PARAM: 1500}, fresh=True)[REORDERED_PARAM] == N
