"""The full-text (keyword) index of a corpus index: SQLite FTS5 over the items' text.

It lives in the items database of each version, as an external-content FTS5
table (`items_fts`, rowid = item id) that holds only the inverted index, kept
exact by triggers on the items table: every write path (build, add, upsert,
delete, rebuild, reindex, compact, the Ray build) changes rows through
`ItemsWriter`, so the triggers see every change, and the full-text index is
published in the same atomic version as the rows and the FAISS index. A new
index is given it at commit, in one pass over its rows (`ensure_fulltext`).

Ranking is FTS5's `bm25()` (k1 = 1.2, b = 0.75), negated so that higher is
better like every other score. A user's text becomes a safe MATCH expression
(`match_expression`): its words, each quoted, OR-ed; nothing the user types
is read as FTS5 syntax, and a text with no word matches nothing.

    match_expression('hybrid "search" NEAR(x)')
    # '"hybrid" OR "search" OR "near" OR "x"'
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from functools import lru_cache
from typing import Sequence

import numpy as np

from ..errors import InputError

FTS_TABLE = "items_fts"
# Stems (porter) over Unicode words with accents folded: chosen on held-out known-item tasks
# (docs/search.md).
TOKENIZER = "porter unicode61 remove_diacritics 2"
# FTS5 buffers this many bytes of postings in memory before writing a segment (its default,
# 1 MB, makes a one-pass index write and merge many small segments).
HASH_BYTES = 64 * 2**20
MAX_QUERY_WORDS = 64  # words of one query sent to FTS5 (bounded work per query)
_WORD = re.compile(r"\w+", re.UNICODE)


def has_fulltext(connection: sqlite3.Connection) -> bool:
    """Whether this items database has a full-text index."""
    row = connection.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                             (FTS_TABLE,)).fetchone()
    return row is not None


def ensure_fulltext(connection: sqlite3.Connection, tokenizer: str = TOKENIZER) -> bool:
    """Create the full-text index and its triggers if missing, indexing the existing rows.

    Returns True if it was created. Called by every writer of a corpus index,
    so an index built before full-text search gains it at its next write.
    """
    if has_fulltext(connection):
        return False
    connection.executescript(f"""
        CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5(
            text, content='items', content_rowid='id', tokenize='{tokenizer}');
        CREATE TRIGGER items_fts_insert AFTER INSERT ON items BEGIN
            INSERT INTO {FTS_TABLE}(rowid, text) VALUES (new.id, new.text);
        END;
        CREATE TRIGGER items_fts_delete AFTER DELETE ON items BEGIN
            INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, text) VALUES ('delete', old.id, old.text);
        END;
        CREATE TRIGGER items_fts_update AFTER UPDATE OF text ON items BEGIN
            INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, text) VALUES ('delete', old.id, old.text);
            INSERT INTO {FTS_TABLE}(rowid, text) VALUES (new.id, new.text);
        END;
        INSERT INTO {FTS_TABLE}({FTS_TABLE}, rank) VALUES ('hashsize', {HASH_BYTES});
        INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild');
    """)
    return True


def check_fulltext(connection: sqlite3.Connection) -> None:
    """Raise sqlite3.DatabaseError unless the full-text index matches the rows exactly."""
    connection.execute(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rank) VALUES ('integrity-check', 1)")


def fts5_totals(connection: sqlite3.Connection, schema: str = "main",
                table: str = FTS_TABLE) -> tuple[int, int]:
    """(rows, tokens): the item count and token total FTS5's bm25() takes N and the average
    length from, read from its own record of them (the `averages` row of its data table: the
    varints row count, then each column's token total); (0, 0) for an empty index."""
    row = connection.execute(f"SELECT block FROM {schema}.{table}_data WHERE id = 1").fetchone()
    values, place = [], 0
    blob = bytes(row[0]) if row and row[0] is not None else b""
    while place < len(blob):
        value, place = _varint(blob, place)
        values.append(value)
    return (values[0], sum(values[1:])) if values else (0, 0)


def _varint(blob: bytes, place: int) -> tuple[int, int]:
    """SQLite's varint at `place` (big-endian, 7 bits a byte, the ninth byte 8): (value, next)."""
    value = 0
    for step in range(8):
        byte = blob[place + step]
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, place + step + 1
    return (value << 8) | blob[place + 8], place + 9


def query_words(text: str) -> list[str]:
    """The words of a query, lower-cased, each once, in order (at most `MAX_QUERY_WORDS`)."""
    return list(dict.fromkeys(word.lower() for word in _WORD.findall(text)))[:MAX_QUERY_WORDS]


def match_expression(text: str) -> str | None:
    """A safe FTS5 MATCH expression for a user's text: its words quoted and OR-ed; None if none."""
    words = query_words(text)
    return " OR ".join(f'"{word}"' for word in words) if words else None


def table_tokenizer(connection: sqlite3.Connection) -> str | None:
    """The tokenizer the full-text index was made with, as its CREATE statement names it
    (None unless it is plain words: it is read from a file and put into SQL)."""
    row = connection.execute("SELECT sql FROM sqlite_master WHERE name = ?",
                             (FTS_TABLE,)).fetchone()
    found = re.search(r"tokenize\s*=\s*'([\w ]+)'", row[0] or "") if row else None
    return found.group(1) if found else None


_tokenizing = threading.Lock()


@lru_cache(maxsize=4)
def _tokenizer_table(tokenizer: str) -> sqlite3.Connection:
    connection = sqlite3.connect(":memory:", check_same_thread=False)
    connection.execute(f"CREATE VIRTUAL TABLE words USING fts5(text, tokenize='{tokenizer}')")
    connection.execute("CREATE VIRTUAL TABLE word_tokens USING fts5vocab(words, instance)")
    return connection


@lru_cache(maxsize=65536)
def phrase_tokens(word: str, tokenizer: str = TOKENIZER) -> tuple[str, ...]:
    """The tokens FTS5 makes of a quoted query word (usually one stem; none, or several for
    a word its tokenizer splits), read back from an FTS5 table of the same tokenizer.

        phrase_tokens("Running")   # ('run',)
    """
    with _tokenizing:
        connection = _tokenizer_table(tokenizer)
        connection.execute("INSERT INTO words(rowid, text) VALUES (1, ?)", (word,))
        tokens = connection.execute("SELECT term FROM word_tokens ORDER BY offset").fetchall()
        connection.execute("DELETE FROM words")
    return tuple(token for token, in tokens)


def keyword_search(connection: sqlite3.Connection, text: str, k: int,
                   allowed_ids: Sequence[int] | None = None,
                   impacts=None) -> list[tuple[int, float]]:
    """The k best (item id, BM25 score) for `text`, best first; [] when no word matches.

    `allowed_ids`, if given, restricts the search to those items (inside the
    search, never a post-filter). `impacts` (a `bm25_impacts.Bm25Impacts` of
    this database) answers without scoring every match, with FTS5's scores;
    FTS5 answers a query it cannot (a word FTS5 splits into several tokens).
    """
    expression = match_expression(text)
    if expression is None or k <= 0:
        return []
    if impacts is not None:
        try:
            phrases = [phrase_tokens(word, impacts.tokenizer) for word in query_words(text)]
            if all(len(tokens) == 1 for tokens in phrases if tokens):
                allowed = None if allowed_ids is None else np.asarray(allowed_ids, dtype=np.int64)
                return impacts.search([tokens for tokens in phrases if tokens], k, allowed)
        except (sqlite3.Error, IndexError):  # an unknown tokenizer, a damaged matrix: FTS5 answers
            pass
    sql = f"SELECT rowid, bm25({FTS_TABLE}) FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH ?"
    params: list = [expression]
    if allowed_ids is not None:
        if len(allowed_ids) == 0:
            return []
        sql += " AND rowid IN (SELECT value FROM json_each(?))"
        params.append(json.dumps([int(i) for i in allowed_ids]))
    sql += " ORDER BY bm25(items_fts) LIMIT ?"
    params.append(int(k))
    try:
        rows = connection.execute(sql, params).fetchall()
    except sqlite3.OperationalError as error:
        raise InputError(f"keyword search failed for {text!r}: {error}") from None
    return [(int(item_id), -float(score)) for item_id, score in rows]
