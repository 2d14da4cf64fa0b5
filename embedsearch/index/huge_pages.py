"""Ask Linux to back an HNSW graph's big arrays with 2 MB pages, for processes that serve many queries.

Why: an HNSW search hops between nodes spread over the whole index (hundreds of
megabytes of vectors and neighbour lists). With 4 KB pages almost every hop
also misses the TLB, the cache of address translations; a 2 MB page covers
512 times as much. Transparent huge pages are often enabled only for memory
that asks for them ("madvise" mode), and FAISS does not ask. The gain on top of
the graph reordering (`reorder.py`) is in docs/benchmarks.md ("Figures moved
out of the index code").

`MADV_COLLAPSE` (Linux 6.1 and later) turns pages already filled into 2 MB
pages in place. It is only a hint: on other systems, older kernels or when
the kernel refuses, the index stays as it was and nothing else changes. It
takes time and memory for a moment (the pages are copied), so the store asks
for it only when an index is opened `in_memory`, i.e. by a long-lived
process, not by a one-query command.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from functools import lru_cache

import faiss

from .faiss_types import hnsw_of

MADV_COLLAPSE = 25  # <linux/mman.h>
HUGE_PAGE = 2 << 20


def use_huge_pages(index: faiss.Index) -> int:
    """Advise 2 MB pages for the vectors and neighbour lists of an HNSW index; bytes advised.

    0 when the index is not HNSW, or the system cannot or will not do it.
    """
    graph = hnsw_of(index)
    if graph is None:
        return 0
    storage = faiss.downcast_index(graph.storage)
    arrays = [faiss.rev_swig_ptr(graph.hnsw.neighbors.data(), graph.hnsw.neighbors.size())]
    if isinstance(storage, faiss.IndexFlat) and storage.ntotal:
        arrays.append(faiss.rev_swig_ptr(storage.get_xb(), storage.ntotal * storage.d))
    return sum(collapse(array.ctypes.data, array.nbytes) for array in arrays)


def collapse(address: int, nbytes: int) -> int:
    """`madvise(MADV_COLLAPSE)` on the whole 2 MB pages inside [address, address + nbytes)."""
    madvise = _madvise()
    start = -(-address // HUGE_PAGE) * HUGE_PAGE
    stop = (address + nbytes) // HUGE_PAGE * HUGE_PAGE
    if madvise is None or stop <= start:
        return 0
    return stop - start if madvise(start, stop - start, MADV_COLLAPSE) == 0 else 0


@lru_cache(maxsize=1)
def _madvise():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None
    madvise = libc.madvise
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    madvise.restype = ctypes.c_int
    return madvise

