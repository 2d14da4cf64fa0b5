"""2 MB pages for an HNSW graph: a hint that never changes an answer, and is taken when the kernel can."""

from pathlib import Path

import faiss
import numpy as np
import pytest

from helpers import unit_rows
from embedsearch.index.huge_pages import HUGE_PAGE, collapse, use_huge_pages

SMAPS = Path("/proc/self/smaps")


def huge_bytes_around(ranges) -> int:
    """AnonHugePages of the memory mappings that overlap any of the (start, stop) address ranges."""
    total, overlaps = 0, False
    for line in SMAPS.read_text().splitlines():
        first = line.split()[0]
        if "-" in first and not first.endswith(":"):  # a mapping's header: start-stop perms ...
            start, stop = (int(part, 16) for part in first.split("-"))
            overlaps = any(start < high and low < stop for low, high in ranges)
        elif overlaps and first == "AnonHugePages:":
            total += int(line.split()[1]) * 1024
    return total


def graph_arrays(index):
    graph = faiss.downcast_index(index.index)
    storage = faiss.downcast_index(graph.storage)
    return [faiss.rev_swig_ptr(graph.hnsw.neighbors.data(), graph.hnsw.neighbors.size()),
            faiss.rev_swig_ptr(storage.get_xb(), storage.ntotal * storage.d)]


@pytest.fixture(scope="module")
def data():
    return unit_rows(20_000, 50, seed=0)


def test_huge_pages_keep_every_answer_and_are_really_used_when_granted(data):
    graph = faiss.IndexIDMap(faiss.IndexHNSWFlat(50, 32, faiss.METRIC_INNER_PRODUCT))
    graph.add_with_ids(data, np.arange(len(data)) * 3)
    before = graph.search(data[:200], 10)
    advised = use_huge_pages(graph)
    assert advised % HUGE_PAGE == 0
    if advised and SMAPS.exists():  # the kernel took the hint: the arrays are now on 2 MB pages
        # At least one of them when smaps is read: the kernel may split a collapsed page again
        # (compaction, memory pressure) at any time, as a CI run once saw for one page of three.
        ranges = [(a.ctypes.data, a.ctypes.data + a.nbytes) for a in graph_arrays(graph)]
        assert huge_bytes_around(ranges) >= HUGE_PAGE
    after = graph.search(data[:200], 10)
    assert np.array_equal(before[1], after[1]) and np.array_equal(before[0], after[0])


def test_other_indexes_and_small_ranges_are_left_alone(data):
    flat = faiss.IndexFlatIP(50)
    flat.add(data)
    assert use_huge_pages(flat) == 0
    small = np.zeros(HUGE_PAGE // 4, dtype=np.uint8)  # holds no whole 2 MB page
    assert collapse(small.ctypes.data, small.nbytes) == 0
