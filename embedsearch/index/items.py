"""The SQLite side of an index: one row per item, its id equal to its FAISS id.

Columns: `id` (integer, the FAISS id), `key` (unique), `text`, `source`,
`position` (line or paragraph number; for a vocabulary index, the word's
frequency rank, 0 = most frequent), `metadata` (JSON) and `content_hash`
(to skip unchanged items on incremental updates).

Writes go through sqlite-utils on a private copy of the database; reads open
the published file read-only and immutable, which needs no locks and cannot
change anything, so a user's `--where` expression is safe to run. Every
filter has a time limit; SQL from remote clients also runs sandboxed
(`sql_guard`), and JSON filters arrive as parameterised SQL (`filters`).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import sys
import threading
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..corpus.json_values import check_json_value
from ..errors import FilterError, InputError
from .filters import Where
from .sql_guard import (forget_refusal, install_time_limit, last_refusal, sandboxed_connection,
                        time_limit)

ITEMS_FILE = "items.db"
TABLE = "items"
COLUMNS = ("id", "key", "text", "source", "position", "metadata", "content_hash")
# SQLite allows at most 32766 host parameters per statement; stay well below.
_CHUNK = 30000


EMPTY_HASH = hashlib.blake2b(b"\x00{}", digest_size=10).hexdigest()  # no text, no metadata


def content_hash(text: str, metadata: dict | None = None) -> str:
    """A digest of an item's text and metadata: equal hashes, nothing to re-encode.
    Every stored item passes here, so metadata that strict JSON cannot hold is refused here."""
    if not text and not metadata:  # a vocabulary's words: every one the same, made once
        return EMPTY_HASH
    try:
        if metadata:
            check_json_value(metadata, "the item's metadata")
        payload = (text + "\x00" + (json.dumps(metadata, sort_keys=True) if metadata else "{}")).encode()
    except UnicodeEncodeError as error:
        raise InputError(f"the item's text holds a lone surrogate at character {error.start}, "
                         "which is not Unicode text") from None
    except ValueError as error:
        raise InputError(str(error)) from None
    return hashlib.blake2b(payload, digest_size=10).hexdigest()


def _chunks(values: Sequence, size: int = _CHUNK):
    for start in range(0, len(values), size):
        yield values[start:start + size]


def select_in(cursor, columns: str, column: str, values: Sequence):
    """Rows of `SELECT columns WHERE column IN values`, in chunks that SQLite accepts."""
    for chunk in _chunks(values):
        marks = ",".join("?" * len(chunk))
        yield from cursor.execute(f"SELECT {columns} FROM {TABLE} WHERE {column} IN ({marks})", chunk)


def ids_for_keys(connection: sqlite3.Connection, keys: Iterable[str]) -> dict[str, int]:
    """key -> id for those of `keys` that exist."""
    return {row[0]: row[1] for row in select_in(connection, "key, id", "key", list(keys))}


def hashes_for_keys(connection: sqlite3.Connection, keys: Iterable[str]) -> dict[str, str]:
    """key -> content_hash for those of `keys` that exist."""
    return dict(select_in(connection, "key, content_hash", "key", list(keys)))


class ItemsReader:
    """Read-only access to a published items database, from any number of threads.

    Each thread gets its own connections: on a shared one, the time limit's
    progress handler needs the GIL while SQLite holds the connection's mutex,
    and a thread holding the GIL and waiting for that mutex deadlocks both.
    Separate connections to an immutable file share nothing, so reads also run
    in parallel.
    """

    def __init__(self, path: Path):
        self.path = path
        self._local = threading.local()
        # Every connection opened, with its thread: `close` closes them all, and the next open
        # closes those of threads that have ended.
        self._opened: list[tuple[threading.Thread, sqlite3.Connection]] = []
        self._lock = threading.Lock()
        self._closed = False
        self.connection  # open this thread's now, so a bad file fails here

    @property
    def connection(self) -> sqlite3.Connection:
        """This thread's connection."""
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = self._open(self._plain_connection)
        return connection

    def _sandbox(self) -> sqlite3.Connection:
        """This thread's sandboxed connection (for SQL from remote clients)."""
        connection = getattr(self._local, "sandbox", None)
        if connection is None:
            connection = self._local.sandbox = self._open(
                lambda: sandboxed_connection(self.path, TABLE))
        return connection

    def _plain_connection(self) -> sqlite3.Connection:
        connection = sqlite3.connect(f"file:{self.path}?mode=ro&immutable=1", uri=True,
                                     check_same_thread=False)
        connection.row_factory = sqlite3.Row
        install_time_limit(connection)
        return connection

    def _open(self, connect) -> sqlite3.Connection:
        with self._lock:
            if self._closed:
                raise sqlite3.ProgrammingError("Cannot operate on a closed database.")
            connection = connect()
            for owner, other in self._opened:
                if not owner.is_alive():
                    other.close()
            self._opened = [(owner, other) for owner, other in self._opened if owner.is_alive()]
            self._opened.append((threading.current_thread(), connection))
        return connection

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for _, connection in self._opened:
                connection.close()
            self._opened = []

    def count(self) -> int:
        return self.connection.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0]

    def ids_for_keys(self, keys: Iterable[str]) -> dict[str, int]:
        """key -> id for the keys that exist."""
        return ids_for_keys(self.connection, keys)

    def hashes_for_keys(self, keys: Iterable[str]) -> dict[str, str]:
        """key -> content_hash for the keys that exist."""
        return hashes_for_keys(self.connection, keys)

    def rows(self, ids: Iterable[int]) -> dict[int, dict]:
        """id -> row dict (metadata decoded) for the ids that exist."""
        rows = select_in(self.connection, "*", "id", [int(i) for i in ids])
        return {row["id"]: _decoded(row) for row in rows}

    def keys(self, ids: Iterable[int]) -> dict[int, str]:
        """id -> key for the ids that exist: the search's hot path, so only the
        two columns are read, as plain tuples, and no row is decoded
        (docs/benchmarks.md, "Figures moved out of the index code")."""
        cursor = self.connection.cursor()
        cursor.row_factory = None
        return dict(select_in(cursor, "id, key", "id", [int(i) for i in ids]))

    def ids_where(self, where: str | Where) -> np.ndarray:
        """Ids of the items matching a SQL WHERE expression (or a `Where`) over the item columns."""
        if not isinstance(where, Where):
            where = Where(where)
        connection = self.connection
        if where.sandboxed:
            connection = self._sandbox()
            forget_refusal()
        try:
            with time_limit(where.time_limit):
                cursor = connection.execute(f"SELECT id FROM {TABLE} WHERE {where.sql}",
                                            where.params)
                selected = [row[0] for row in cursor]
                if where.sandboxed:
                    self._check_item_ids(connection, selected)
                ids = np.array(selected, dtype=np.int64)
        except sqlite3.DatabaseError as error:
            if where.sandboxed and ("not authorized" in str(error) or "prohibited" in str(error)):
                raise FilterError(f"SQL filter refused: {last_refusal()} is not allowed "
                                 "(only reading the items table and plain functions)") from None
            raise FilterError(
                f"malformed filter {where.sql!r}: {error} (columns: {', '.join(COLUMNS)}; "
                "JSON fields via json_extract(metadata, '$.name'))"
            ) from None
        except sqlite3.Warning as error:
            raise FilterError(f"malformed filter {where.sql!r}: {error}") from None
        return ids

    @staticmethod
    def _check_item_ids(connection: sqlite3.Connection, selected: list) -> None:
        """A FilterError unless a remote filter selected only ids of items (a `UNION SELECT`
        can select any value, or the id of a deleted item)."""
        unique = set(selected)
        if not all(type(value) is int for value in unique) or len(unique) != sum(
                1 for _ in select_in(connection.cursor(), "id", "id", list(unique))):
            raise FilterError("the SQL filter selected something other than items (a UNION?): "
                              "give a condition over the items' columns")

    def iter_rows(self, batch_size: int = 10000, start: int = 0, stop: int | None = None):
        """Every row (with `start` <= id < `stop`) in id order, in batches of dicts."""
        cursor = self.connection.execute(
            f"SELECT * FROM {TABLE} WHERE id >= ? AND id < ? ORDER BY id",
            (start, stop if stop is not None else 2 ** 63 - 1))
        while batch := cursor.fetchmany(batch_size):
            yield [_decoded(row) for row in batch]


def _decoded(row: sqlite3.Row) -> dict:
    record = dict(row)
    record["metadata"] = json.loads(record["metadata"]) if record["metadata"] else {}
    return record


def import_sqlite_utils():
    """sqlite_utils, imported without pandas.

    sqlite-utils imports pandas whenever it is installed (it comes with the
    sentence-transformers extra), only to give pandas timestamps a column type;
    the store never writes one, and that import took 0.24-0.48 s of every build. For
    the length of sqlite_utils' first import, `import pandas` fails; pandas stays
    importable by anything else afterwards.
    """
    if "sqlite_utils" not in sys.modules and "pandas" not in sys.modules:
        sys.modules["pandas"] = None  # import pandas -> ImportError
        try:
            import sqlite_utils
        finally:
            del sys.modules["pandas"]
    import sqlite_utils

    return sqlite_utils


class ItemsWriter:
    """Writes to a private copy of the items database with sqlite-utils."""

    def __init__(self, path: Path):
        sqlite_utils = import_sqlite_utils()
        self.path = path
        self.db = sqlite_utils.Database(path)
        # The file is private until published by an atomic rename, so durability
        # comes from fsync at commit, not from SQLite's journal.
        self.db.execute("PRAGMA journal_mode=OFF")
        self.db.execute("PRAGMA synchronous=OFF")
        # Up to 64 MiB of pages in memory (taken only as the file grows): the key index's
        # B-tree is written in key order, not id order, and small caches re-read its pages.
        self.db.execute("PRAGMA cache_size=-65536")
        self.table = self.db[TABLE]
        if not self.table.exists():
            self.table.create(
                {"id": int, "key": str, "text": str, "source": str, "position": int,
                 "metadata": str, "content_hash": str},
                pk="id", not_null={"key"},
            )
            self.table.create_index(["key"], unique=True)

    def insert(self, rows: list[tuple]) -> None:
        """New rows (tuples of every column, in `COLUMNS` order), in one statement run over them
        all (sqlite-utils' `insert_all` inspects every value for JSON, the largest cost of
        writing many rows)."""
        placeholders = ", ".join("?" * len(COLUMNS))
        with self.db.conn:
            self.db.conn.executemany(f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) VALUES ({placeholders})", rows)

    def update(self, rows: list[tuple]) -> None:
        """Existing rows replaced (tuples as for `insert`)."""
        self.table.upsert_all([dict(zip(COLUMNS, row)) for row in rows], pk="id", batch_size=5000)

    def delete_ids(self, ids: Sequence[int]) -> None:
        for chunk in _chunks(list(ids)):
            self.db.execute(f"DELETE FROM {TABLE} WHERE id IN ({','.join('?' * len(chunk))})",
                            [int(i) for i in chunk])

    def ids_for_keys(self, keys: Iterable[str]) -> dict[str, int]:
        return ids_for_keys(self.db.conn, keys)

    def hashes_for_keys(self, keys: Iterable[str]) -> dict[str, str]:
        """key -> content_hash for those of `keys` that exist."""
        return hashes_for_keys(self.db.conn, keys)

    def keys_of_source(self, source: str) -> list[str]:
        return [row[0] for row in self.db.execute(f"SELECT key FROM {TABLE} WHERE source = ?", [source])]

    def existing_ids(self, ids: Iterable[int]) -> np.ndarray:
        """Those of `ids` that have a row."""
        found = [row[0] for row in select_in(self.db.conn, "id", "id", [int(i) for i in ids])]
        return np.array(sorted(found), dtype=np.int64)

    def ids_from(self, first_id: int, batch_size: int = 65536):
        """Ids >= first_id in order, in arrays of up to `batch_size`."""
        cursor = self.db.conn.execute(f"SELECT id FROM {TABLE} WHERE id >= ? ORDER BY id", [first_id])
        while batch := cursor.fetchmany(batch_size):
            yield np.fromiter((row[0] for row in batch), dtype=np.int64, count=len(batch))

    def count_from(self, first_id: int) -> int:
        return self.db.conn.execute(f"SELECT count(*) FROM {TABLE} WHERE id >= ?",
                                    [first_id]).fetchone()[0]

    def count(self) -> int:
        return self.table.count

    def close(self) -> None:
        self.db.conn.commit()
        self.db.close()
