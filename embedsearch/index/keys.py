"""Item keys by id, read once per opened version and then looked up in memory.

A search returns keys with its hits. Asking SQLite for them on every batch
cost more than the index search itself on a fast index (a 1,000-query batch
of k = 10 touches up to 10,000 ids), so an open `Index` reads all keys in one
pass once it has searched a large batch or a few times, and answers from an
array indexed by id afterwards; a one-off query (the CLI) still asks SQLite
for its few keys rather than read them all. A version never changes once
published, so the array never goes stale; it costs one Python string per
key. `hits` also builds the result objects a row at a time (`map` over the
row's ids, keys and scores), cheaper than a filtering comprehension per hit
(figures: docs/benchmarks.md, the `scann` index type).

    cache = KeyCache(items, rows=manifest.rows)
    cache.hits(scores, ids, exclude=[set()] * len(ids), k=10, make=Hit)
"""

from __future__ import annotations

import threading

import numpy as np

from .items import TABLE

READ_BATCH = 65_536
WARM_IDS = 1024  # a search returning this many ids reads every key at once
WARM_SEARCHES = 4  # so does the fourth search of an open index


class KeyCache:
    """The keys of one published items database, as a list indexed by item id."""

    def __init__(self, items, rows: int):
        self.items = items
        self.rows = rows
        self._keys: np.ndarray | None = None  # object array: key or None, by id
        self._lock = threading.Lock()
        self.searches = 0

    def key_rows(self, ids: np.ndarray) -> list[list[str | None]]:
        """The key of each id (None for -1 or a deleted id), row by row."""
        self.searches += 1
        if self._keys is None and ids.size < WARM_IDS and self.searches < WARM_SEARCHES:
            found = self.items.keys(np.unique(ids[ids >= 0]).tolist())
            return [[found.get(i) for i in row] for row in ids.tolist()]
        keys = self.keys
        if not len(keys):
            return [[None] * ids.shape[1] for _ in range(len(ids))]
        return np.where(ids >= 0, keys[np.clip(ids, 0, max(len(keys) - 1, 0))], None).tolist()

    def hits(self, scores: np.ndarray, ids: np.ndarray, exclude, k: int, make) -> list[list]:
        """Per query row, up to k `make(id, key, score)`, best first, without -1 or excluded ids."""
        results = []
        # Python ints and floats in one conversion each, not one numpy scalar per hit.
        for row_ids, row_keys, row_scores, skip in zip(ids.tolist(), self.key_rows(ids),
                                                       scores.tolist(), exclude):
            if skip or len(row_ids) > k or (row_ids and min(row_ids) < 0):
                results.append([make(i, key, score) for i, key, score in zip(row_ids, row_keys, row_scores)
                                if i >= 0 and i not in skip][:k])
            else:
                results.append(list(map(make, row_ids, row_keys, row_scores)))
        return results

    @property
    def keys(self) -> np.ndarray:
        """key (or None) for every id below `rows`, read on first use."""
        if self._keys is None:
            with self._lock:
                if self._keys is None:
                    self._keys = self._read()
        return self._keys

    def _read(self) -> np.ndarray:
        keys = np.full(self.rows, None, dtype=object)
        cursor = self.items.connection.cursor()
        cursor.row_factory = None  # plain tuples
        cursor.execute(f"SELECT id, key FROM {TABLE} WHERE id < ?", [self.rows])
        while batch := cursor.fetchmany(READ_BATCH):
            ids, names = zip(*batch)
            keys[np.array(ids, dtype=np.int64)] = names
        return keys
