"""Item keys by id, read once per opened version and then looked up in memory.

A search returns keys with its hits. Asking SQLite for them on every batch
cost more than the index search itself on a fast index (a 1,000-query batch
of k = 10 touches up to 10,000 ids), so an open `Index` reads all keys in one
pass once it has searched a large batch or a few times, and answers from a
list indexed by id afterwards; a one-off query (the CLI) still asks SQLite
for its few keys rather than read them all. A version never changes once
published, so the list never goes stale; it costs about 60 bytes a key
(25 MB for 400,000 words).

    cache = KeyCache(items, rows=manifest.rows)
    keys = cache.lookup(ids)   # keys[7] == 'cat'
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
        self._keys: list[str | None] | None = None
        self._lock = threading.Lock()
        self.searches = 0

    def lookup(self, ids: np.ndarray):
        """Keys indexable by the (non-negative) `ids`: the whole list once warm, else a dict."""
        self.searches += 1
        if self._keys is None and ids.size < WARM_IDS and self.searches < WARM_SEARCHES:
            return self.items.keys(np.unique(ids[ids >= 0]).tolist())
        return self.keys

    @property
    def keys(self) -> list[str | None]:
        """key (or None) for every id below `rows`, read on first use."""
        if self._keys is None:
            with self._lock:
                if self._keys is None:
                    self._keys = self._read()
        return self._keys

    def _read(self) -> list[str | None]:
        keys: list[str | None] = [None] * self.rows
        cursor = self.items.connection.cursor()
        cursor.row_factory = None  # plain tuples
        cursor.execute(f"SELECT id, key FROM {TABLE}")
        while batch := cursor.fetchmany(READ_BATCH):
            for item_id, key in batch:
                if 0 <= item_id < self.rows:
                    keys[item_id] = key
        return keys
