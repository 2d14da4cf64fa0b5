"""Filling an IVF index in parallel: the trained empty index shared, parts added by Ray tasks, merged.

The standard FAISS recipe for large builds: the coarse quantiser and the
codebooks are trained once (on the driver, on the same sample a local build
uses), the trained empty index goes to the object store once, each task adds
one consecutive run of ids to its own copy, and the driver merges the filled
copies in id order (`merge_from`), which leaves the inverted lists exactly as
one sequential add would. Flat and HNSW indexes are not filled here: the
writer's commit adds their vectors in order.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from .encoding import pin_threads

PART_ROWS = 65536


def fills_in_parallel(index) -> bool:
    import faiss

    return isinstance(index, faiss.Index) and isinstance(faiss.downcast_index(index), faiss.IndexIVF)


def fill_part(trained: np.ndarray, ids: np.ndarray, vectors: np.ndarray,
              threads: int) -> np.ndarray:
    """A Ray task: the trained empty index (serialized) with `vectors` added under `ids`."""
    import faiss

    pin_threads(threads)
    index = faiss.deserialize_index(trained)
    index.add_with_ids(vectors, ids)
    return faiss.serialize_index(index)


def fill_ivf(ray, writer, workers: int, threads: int) -> None:
    """Add the writer's pending rows to its trained IVF index on Ray, `workers` parts in flight.

    Other index types are left to the writer's commit, which adds them in order.
    """
    if writer.manifest.count and fills_in_parallel(writer.prepare_faiss()):
        writer.merge_pending(filled_parts(ray, writer, workers, threads))


def filled_parts(ray, writer, workers: int, threads: int):
    """The filled copies in id order; at most `workers` parts are read, sent or running at once."""
    import faiss

    trained = ray.put(faiss.serialize_index(writer.faiss))
    task = ray.remote(num_cpus=threads)(fill_part)
    in_flight: deque = deque()
    for ids in writer.pending_ids(PART_ROWS):
        in_flight.append(task.remote(trained, ids, writer.vector_file.read_rows(ids), threads))
        if len(in_flight) >= workers:
            yield faiss.deserialize_index(ray.get(in_flight.popleft()))
    while in_flight:
        yield faiss.deserialize_index(ray.get(in_flight.popleft()))
