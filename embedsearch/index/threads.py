"""How many OpenMP threads FAISS may use for a search of a given batch size.

One query over a flat index is a single pass over memory that OpenMP splits
poorly: with anything else running, a second thread makes it slower, not
faster (docs/benchmarks.md, "Queries against gensim"). Small batches therefore
run on one thread; large batches use every core.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

SMALL_BATCH = 16


@contextmanager
def search_threads(batch_size: int):
    """Run the enclosed FAISS calls with 1 thread for small batches, all cores otherwise."""
    import faiss

    wanted = 1 if batch_size < SMALL_BATCH else (os.cpu_count() or 1)
    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(wanted)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(previous)
