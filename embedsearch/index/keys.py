"""Item keys by id, read once per opened version and then looked up in memory.

A search returns keys with its hits. Asking SQLite for them on every batch
cost more than the index search itself on a fast index (a 1,000-query batch
of k = 10 touches up to 10,000 ids), so an open `Index` reads all keys in one
pass once it has searched a large batch or a few times, and answers from
memory afterwards; a one-off query (the CLI) still asks SQLite for its few
keys rather than read them all. A version never changes once published, so
the table never goes stale.

The keys are held as fixed-width ASCII bytes (`KeyTable`), not as one Python
string each: a string costs about 56 bytes plus its pointer, which for
400,000 words was more memory than the index's codes. `hits` builds the
result objects a row at a time (`map` over the row's ids, keys and scores),
cheaper than a filtering comprehension per hit.

    cache = KeyCache(items, rows=manifest.rows)
    cache.hits(scores, ids, k=10, make=Hit)   # [[Hit(id, key, score), ...], ...]
"""

from __future__ import annotations

import threading
from itertools import repeat
from typing import Sequence

import numpy as np

from .items import TABLE

READ_BATCH = 8192  # rows fetched at a time: the transient Python objects stay small
WARM_IDS = 1024  # a search returning this many ids reads every key at once
WARM_SEARCHES = 4  # so does the fourth search of an open index
WIDTH_SHARE = 0.99  # the fixed width holds this share of the keys; longer ones are kept aside
MAX_WIDTH = 64
ODD = b"\xff"  # the fixed-width slot of a key kept aside (never ASCII, so never a key there)


class KeyTable:
    """Every key of a version by id: ASCII keys up to `width` bytes in one fixed-width
    array, the others (longer, non-ASCII) in a dict; deleted ids and id -1 have None.

        table = KeyTable.read(connection, rows=3)   # keys "a", "été", deleted id 2
        table.lookup(np.array([[0, 1, 2, -1]]))      # [["a", "été", None, None]]
    """

    def __init__(self, ascii_keys: np.ndarray, odd: np.ndarray, others: dict[int, str]):
        self.ascii_keys = ascii_keys  # (rows + 1,) bytes; ODD where the key is not here
        self.odd = odd  # (rows + 1,) bool: the key is in `others`, or there is none
        self.others = others

    @classmethod
    def read(cls, connection, rows: int) -> "KeyTable":
        width = _width(connection, rows)
        ascii_keys = np.full(rows + 1, ODD, dtype=f"S{width}")  # the last slot is id -1's
        others: dict[int, str] = {}
        cursor = connection.cursor()
        cursor.row_factory = None  # plain tuples
        cursor.execute(f"SELECT id, key FROM {TABLE} WHERE id < ?", [rows])
        while batch := cursor.fetchmany(READ_BATCH):
            ids, encoded = [], []
            for item_id, key in batch:
                if _fits(key, width):
                    ids.append(item_id)
                    encoded.append(key.encode())
                else:
                    others[item_id] = key
            ascii_keys[np.array(ids, dtype=np.int64)] = encoded
        return cls(ascii_keys, ascii_keys == ODD, others)

    def lookup(self, ids: np.ndarray) -> np.ndarray:
        """The key of each id (None for -1 or a deleted id), an object array shaped like `ids`."""
        keys = self._widened(ids).astype(object)
        odd = self.odd[ids]
        if odd.any():
            for position in zip(*np.nonzero(odd)):
                keys[position] = self.others.get(int(ids[position]))
        return keys

    def row_lists(self, ids: np.ndarray) -> list[list]:
        """`lookup(ids).tolist()`, quicker for a few ids (a single query's)."""
        try:  # ODD is not UTF-8: a row holding one fails to decode
            return [list(map(bytes.decode, row)) for row in self.ascii_keys[ids].tolist()]
        except UnicodeDecodeError:
            return self.lookup(ids).tolist()

    def _widened(self, ids: np.ndarray) -> np.ndarray:
        """The fixed-width slots of `ids` as text ("\xff" where the key is kept aside).

        ASCII bytes widened to UCS-4 code points and viewed as numpy text: numpy's own
        bytes-to-text cast decodes element by element, a hundred times slower.
        """
        slots = np.ascontiguousarray(self.ascii_keys[ids])
        width = self.ascii_keys.dtype.itemsize
        return slots.view(np.uint8).astype(np.uint32).view(f"U{width}").reshape(ids.shape)


def _fits(key: str, width: int) -> bool:
    """Whether a key round-trips through a fixed-width bytes slot (numpy drops trailing NULs)."""
    return len(key) <= width and key.isascii() and not key.endswith("\x00")


def _width(connection, rows: int) -> int:
    """The fewest bytes that hold `WIDTH_SHARE` of the keys (at least 1, at most `MAX_WIDTH`)."""
    counts = connection.execute(f"SELECT length(CAST(key AS BLOB)), count(*) FROM {TABLE} "
                                "WHERE id < ? GROUP BY 1 ORDER BY 1", [rows]).fetchall()
    total, seen = sum(count for _, count in counts), 0
    for length, count in counts:
        seen += count
        if seen >= WIDTH_SHARE * total:
            return int(min(max(length, 1), MAX_WIDTH))
    return 1


class KeyCache:
    """The keys of one published items database, looked up by item id."""

    def __init__(self, items, rows: int):
        self.items = items
        self.rows = rows
        self._table: KeyTable | None = None
        self._lock = threading.Lock()
        self.searches = 0

    def key_array(self, ids: np.ndarray) -> np.ndarray:
        """The key of each id (None for -1 or a deleted id), an object array shaped like `ids`."""
        if ids.size == 0:
            return np.full(ids.shape, None, dtype=object)
        if self._asks_sqlite(ids):
            return self._from_sqlite(ids)
        return self.table.lookup(ids)

    def hits(self, scores: np.ndarray, ids: np.ndarray, k: int, make,
             exclude: Sequence[set[int]] | None = None) -> list[list]:
        """Per query row, up to k `make(id, key, score)`, best first, without -1 or excluded ids."""
        # Python ints, floats and keys in one conversion each, not one numpy scalar per hit.
        id_rows, key_rows, score_rows = ids.tolist(), self._key_rows(ids), scores.tolist()
        if exclude is None and ids.shape[1] <= k:  # a row without -1 keeps every hit: no test per hit
            return [list(map(make, i, key, score)) if -1 not in i else
                    [make(*hit) for hit in zip(i, key, score) if hit[0] >= 0]
                    for i, key, score in zip(id_rows, key_rows, score_rows)]
        exclude = exclude or repeat(())
        return [[make(i, key, score) for i, key, score in zip(*row) if i >= 0 and i not in skip][:k]
                for row, skip in zip(zip(id_rows, key_rows, score_rows), exclude)]

    def _key_rows(self, ids: np.ndarray) -> list[list]:
        """`key_array(ids).tolist()`, quicker once every key is in memory (a single query's)."""
        if self._table is not None:
            return self._table.row_lists(ids)
        if ids.size == 0:
            return [[] for _ in range(len(ids))]
        if self._asks_sqlite(ids):
            return self._from_sqlite(ids).tolist()
        return self.table.row_lists(ids)

    @property
    def table(self) -> KeyTable:
        """Every key, read on first use."""
        if self._table is None:
            with self._lock:
                if self._table is None:
                    self._table = KeyTable.read(self.items.connection, self.rows)
        return self._table

    def _asks_sqlite(self, ids: np.ndarray) -> bool:
        """Whether to ask SQLite for these few keys rather than read every key (counts the search)."""
        self.searches += 1
        return self._table is None and ids.size < WARM_IDS and self.searches < WARM_SEARCHES

    def _from_sqlite(self, ids: np.ndarray) -> np.ndarray:
        found = self.items.keys(np.unique(ids[ids >= 0]).tolist())
        keys = np.full(ids.shape, None, dtype=object)
        for position, item_id in np.ndenumerate(ids):
            keys[position] = found.get(int(item_id))
        return keys
