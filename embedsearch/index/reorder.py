"""Renumber an HNSW graph so that nodes one search visits sit close together in memory.

Why: a search hops from node to node. At each hop it reads one neighbour
list and the vectors of that node's neighbours. FAISS keeps the vectors and
the neighbour lists in two arrays, in insertion order, so neighbours in space
end up scattered over tens of megabytes and most reads miss the cache.
Numbering the nodes by a coarse k-means cluster (about 400 nodes per cluster)
puts nodes that are close in space next to each other in both arrays. This is
the graph reordering of Coleman et al., "Graph Reordering for Cache-Efficient
Near Neighbor Search" (2022). What it gains and costs is measured in
docs/benchmarks.md ("Ours against hnswlib in one process" and "Figures moved
out of the index code").

The permutation only renumbers nodes. The graph stays the same, and so does
every search result (ids and scores). The `IndexIDMap` around the graph is
permuted the same way, so searches, filters and tombstones still use item
ids. Nodes added later are appended after the ordered ones. The store reorders
at commit whenever the graph has at least doubled since its last reorder (a
new build, reindex or compact always counts). It records the node count in
the index parameters under `reordered_nodes`.

    params = reorder_if_due(index, params, fresh=True)
"""

from __future__ import annotations

import faiss
import numpy as np

from ..progress import progress_bar

REORDERED_PARAM = "reordered_nodes"
# Cluster sizes chosen by measurement (docs/benchmarks.md, "Figures moved out of the index code").
NODES_PER_CLUSTER = 400
MAX_CLUSTERS = 1024  # more clusters cost more k-means time and did no better
SAMPLE_PER_CLUSTER = 16  # k-means trains on this many nodes per cluster
ASSIGN_CHUNK = 65_536  # nodes read back and assigned to clusters at a time


def reorder_if_due(index: faiss.Index, params: dict, *, fresh: bool) -> dict:
    """Reorder `index` (an `IndexIDMap` around an `IndexHNSW`) if due; returns the new params.

    A reorder is due when the graph has at least two clusters' worth of nodes
    and at least twice as many nodes as at its last reorder. A graph that was
    just built (`fresh`) has never been reordered, whatever `params` say.
    Doubling keeps the total cost of reordering a growing index within twice
    the cost of the last reorder.
    """
    last = 0 if fresh else int(params.get(REORDERED_PARAM, 0))
    params = {name: value for name, value in params.items() if name != REORDERED_PARAM}
    nodes = int(index.ntotal)
    if nodes < 2 * NODES_PER_CLUSTER or nodes < 2 * last:
        return {**params, REORDERED_PARAM: last} if last else params
    reorder(index)
    return {**params, REORDERED_PARAM: nodes}


def reorder(index: faiss.Index) -> np.ndarray:
    """Renumber the graph's nodes by cluster, in place; returns the permutation."""
    permutation = cluster_order(_graph_of(index))
    permute(index, permutation)
    return permutation


def permute(index: faiss.Index, permutation: np.ndarray) -> None:
    """Renumber in place: new node i is old node `permutation[i]`.

    The graph, the stored vectors and the id map all move together. FAISS
    copies the vectors and the neighbour lists to move them, so for a moment
    the index needs twice its memory.
    """
    graph = _graph_of(index)
    graph.permute_entries(permutation)
    id_map = faiss.downcast_index(index)
    item_ids = faiss.vector_to_array(id_map.id_map)
    faiss.copy_array_to_vector(item_ids[permutation], id_map.id_map)


def _graph_of(index: faiss.Index) -> faiss.IndexHNSW:
    id_map = faiss.downcast_index(index)
    graph = faiss.downcast_index(id_map.index) if isinstance(id_map, faiss.IndexIDMap) else None
    if not isinstance(graph, faiss.IndexHNSW):
        raise TypeError("reordering needs an IndexIDMap around an IndexHNSW, "
                        f"not {type(id_map).__name__}")
    return graph


def cluster_order(graph: faiss.IndexHNSW, seed: int = 0) -> np.ndarray:
    """Node numbers sorted by their k-means cluster. Within a cluster they keep their order."""
    nodes = int(graph.ntotal)
    clusters = min(MAX_CLUSTERS, nodes // NODES_PER_CLUSTER)
    if clusters < 2:
        return np.arange(nodes, dtype=np.int64)
    storage = faiss.downcast_index(graph.storage)
    rng = np.random.default_rng(seed)
    sample_ids = np.sort(rng.choice(nodes, size=min(nodes, clusters * SAMPLE_PER_CLUSTER),
                                    replace=False))
    sample = storage.reconstruct_batch(sample_ids)
    # Spherical: the vectors are unit length, and the clusters group them by direction.
    kmeans = faiss.Kmeans(graph.d, clusters, niter=10, seed=seed, spherical=True,
                          min_points_per_centroid=1, max_points_per_centroid=SAMPLE_PER_CLUSTER)
    kmeans.train(sample)
    assignment = np.empty(nodes, dtype=np.int64)
    with progress_bar(total=nodes, unit="vectors", desc="reordering",
                      disable=nodes < 16 * ASSIGN_CHUNK) as bar:
        for start in range(0, nodes, ASSIGN_CHUNK):
            stop = min(start + ASSIGN_CHUNK, nodes)
            _, nearest = kmeans.index.search(storage.reconstruct_n(start, stop - start), 1)
            assignment[start:stop] = nearest[:, 0]
            bar.update(stop - start)
    return np.argsort(assignment, kind="stable")
