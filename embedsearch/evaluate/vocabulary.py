"""The vocabulary an evaluation may use, by gensim's rules.

gensim's `evaluate_word_analogies` and `evaluate_word_pairs` only look at the
first `restrict_vocab` rows (on a vocabulary index, the most frequent words)
and, when case-insensitive, fold words to upper case; where several case
variants exist ("Paris", "paris") the earliest row wins and gives the vector.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from ..query.ranking import candidate_items
from ..errors import InputError
from ..index import Index
from ..index.items import TABLE

# Data sets shipped with gensim's tests, used when no file is given.
GENSIM_TEST_DATA = ("gensim", "test/test_data")
SQL_CHUNK = 20000  # words per query (SQLite allows 32,766 parameters)


def vocabulary_ids(index: Index, restrict_vocab: int | None, case_insensitive: bool,
                   words: Iterable[str]) -> dict[str, int]:
    """Folded word -> the id gensim would use, for those of `words` (folded) in its vocabulary.

    gensim folds every key of the vocabulary; here SQLite finds the few keys
    that can fold to a wanted word: those whose ASCII upper case matches, plus
    every key with a non-ASCII character (SQLite's upper() folds ASCII only,
    and e.g. "ﬀ".upper() is "FF"), which Python then folds exactly.
    """
    if index.manifest.content != "vocabulary":
        raise InputError(f"index {index.name} holds a corpus, not words: word benchmarks need an "
                         "index of word vectors (a vocabulary index)")
    limit = candidate_items(index, restrict_vocab).limit
    wanted = sorted(set(words))
    connection = index.items.connection
    column = "upper(key)" if case_insensitive else "key"
    rows = []
    for start in range(0, len(wanted), SQL_CHUNK):
        chunk = wanted[start:start + SQL_CHUNK]
        rows += connection.execute(
            f"SELECT id, key FROM {TABLE} WHERE id < ? AND {column} IN ({','.join('?' * len(chunk))})",
            [limit, *chunk]).fetchall()
    if case_insensitive:
        rows += connection.execute(
            f"SELECT id, key FROM {TABLE} WHERE id < ? AND key GLOB '*[^ -~]*'", (limit,)).fetchall()
    found: dict[str, int] = {}
    wanted_set = set(wanted)
    for item_id, key in sorted(rows, key=lambda row: row[0]):  # the earliest case variant wins
        folded = key.upper() if case_insensitive else key
        if folded in wanted_set:
            found.setdefault(folded, item_id)
    return found


def item_keys(index: Index, ids: Iterable[int]) -> dict[int, str]:
    """id -> key, reading only those two columns (faster than whole item rows)."""
    ids = sorted({int(i) for i in ids})
    keys: dict[int, str] = {}
    for start in range(0, len(ids), SQL_CHUNK):
        chunk = ids[start:start + SQL_CHUNK]
        keys.update(index.items.connection.execute(
            f"SELECT id, key FROM {TABLE} WHERE id IN ({','.join('?' * len(chunk))})", chunk).fetchall())
    return keys


def gensim_test_file(name: str) -> Path:
    """A data set shipped in gensim's test data (questions-words.txt, wordsim353.tsv, ...)."""
    import importlib.util

    spec = importlib.util.find_spec(GENSIM_TEST_DATA[0])
    if spec is None or spec.origin is None:
        raise InputError(f"gensim is not installed, so {name} is not available: give a file")
    return Path(spec.origin).parent / GENSIM_TEST_DATA[1] / name


def read_lines(path: str | Path, encoding: str = "utf8", *, text_mode: bool = False):
    """(line number, line) of a text file; a missing or undecodable file is one clear error.

    gensim reads analogy files as bytes split at newlines and word-pair files
    in text mode (universal newlines); `text_mode` picks the latter.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no such file: {path}")
    line_no = 0
    try:
        if text_mode:
            with open(path, encoding=encoding) as handle:
                for line_no, line in enumerate(handle):
                    yield line_no, line
        else:
            with open(path, "rb") as handle:
                for line_no, raw in enumerate(handle):
                    yield line_no, raw.decode(encoding)
    except UnicodeDecodeError as error:
        raise InputError(f"{path}, line {line_no + 1}: not {encoding} text ({error.reason})") from None
    except LookupError:
        raise InputError(f"unknown text encoding {encoding!r}") from None
