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
    cache.hits(scores, ids, k=10, make=Hit)   # [[Hit(id, key, score), ...], ...]
"""

from __future__ import annotations

import threading
from itertools import repeat
from typing import Sequence

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

    def key_array(self, ids: np.ndarray) -> np.ndarray:
        """The key of each id (None for -1 or a deleted id), an object array shaped like `ids`."""
        if ids.size == 0:
            return np.full(ids.shape, None, dtype=object)
        self.searches += 1
        if self._keys is None and ids.size < WARM_IDS and self.searches < WARM_SEARCHES:
            found = self.items.keys(np.unique(ids[ids >= 0]).tolist())
            keys = np.full(ids.shape, None, dtype=object)
            for position, item_id in np.ndenumerate(ids):
                keys[position] = found.get(int(item_id))
            return keys
        return self.keys[ids]  # -1 picks the None kept after the last id

    def hits(self, scores: np.ndarray, ids: np.ndarray, k: int, make,
             exclude: Sequence[set[int]] | None = None) -> list[list]:
        """Per query row, up to k `make(id, key, score)`, best first, without -1 or excluded ids."""
        # Python ints, floats and keys in one conversion each, not one numpy scalar per hit.
        id_rows = ids.tolist()
        rows = zip(id_rows, self.key_array(ids).tolist(), scores.tolist())
        if exclude is None and ids.shape[1] <= k and all(-1 not in row for row in id_rows):
            return [list(map(make, *row)) for row in rows]  # every hit kept: no test per hit
        exclude = exclude or repeat(())
        return [[make(i, key, score) for i, key, score in zip(*row) if i >= 0 and i not in skip][:k]
                for row, skip in zip(rows, exclude)]

    @property
    def keys(self) -> np.ndarray:
        """key (or None) for every id below `rows`, then one None for id -1; read on first use."""
        if self._keys is None:
            with self._lock:
                if self._keys is None:
                    self._keys = self._read()
        return self._keys

    def _read(self) -> np.ndarray:
        keys = np.full(self.rows + 1, None, dtype=object)  # keys[-1]: None, the key of id -1
        cursor = self.items.connection.cursor()
        cursor.row_factory = None  # plain tuples
        cursor.execute(f"SELECT id, key FROM {TABLE} WHERE id < ?", [self.rows])
        while batch := cursor.fetchmany(READ_BATCH):
            ids, names = zip(*batch)
            keys[np.array(ids, dtype=np.int64)] = names
        return keys
