"""The vocabulary an evaluation may use, by gensim's rules.

gensim's `evaluate_word_analogies` and `evaluate_word_pairs` only look at the
first `restrict_vocab` rows (on a vocabulary index, the most frequent words)
and, when case-insensitive, fold words to upper case; where several case
variants exist ("Paris", "paris") the earliest row wins and gives the vector.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..analogy import candidate_items
from ..errors import InputError
from ..index import Index
from ..index.items import TABLE

# Data sets shipped with gensim's tests, used when no file is given.
GENSIM_TEST_DATA = ("gensim", "test/test_data")


@dataclass
class EvalVocabulary:
    """Folded word -> item id, and the key of every candidate id."""

    ids: dict[str, int]
    keys: dict[int, str]
    case_insensitive: bool

    def fold(self, word: str) -> str:
        return word.upper() if self.case_insensitive else word


def eval_vocabulary(index: Index, restrict_vocab: int | None, case_insensitive: bool) -> EvalVocabulary:
    """The first `restrict_vocab` items, folded; the earliest id wins a folded word."""
    limit = candidate_items(index, restrict_vocab).limit
    # Only ids and keys are needed: one narrow query instead of decoding whole item rows.
    rows = index.items.connection.execute(
        f"SELECT id, key FROM {TABLE} WHERE id < ? ORDER BY id", (limit,))
    keys = dict(rows.fetchall())
    folded: dict[str, int] = {}
    for item_id, key in keys.items():
        folded.setdefault(key.upper() if case_insensitive else key, item_id)
    return EvalVocabulary(folded, keys, case_insensitive)


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
