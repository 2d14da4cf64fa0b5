"""A short passage of a hit's text around the query's words, with those words marked.

The window of `SNIPPET_WORDS` words holding the most distinct query words
wins (the earliest on ties); a word matches a query word when both agree
after lower-casing and dropping a plural or verb ending ("searches" matches
"search"). Highlights are (start, end) offsets into the snippet, so the
terminal can embolden them and JSON can carry them without markup in the text.

>>> snippet("We built a fast index. Searching it is quick.", ["searches", "quick"], width=4)
('…Searching it is quick.', [(1, 10), (17, 22)])
"""

from __future__ import annotations

import re
from typing import Sequence

SNIPPET_WORDS = 32
_WORD = re.compile(r"\w+", re.UNICODE)
_TOKEN = re.compile(r"\S+")
_ENDINGS = ("ing", "es", "ed", "s")


def word_stem(word: str) -> str:
    """A crude stem: lower-cased, one common ending dropped if at least 3 letters remain."""
    word = word.lower()
    for ending in _ENDINGS:
        if word.endswith(ending) and len(word) - len(ending) >= 3:
            return word[:-len(ending)]
    return word


def snippet(text: str, query_words: Sequence[str], width: int = SNIPPET_WORDS
            ) -> tuple[str, list[tuple[int, int]]]:
    """(passage of at most `width` words, highlight offsets into it); '…' marks a cut."""
    stems = {word_stem(word) for word in query_words}
    tokens = list(_TOKEN.finditer(text))
    if not tokens:
        return "", []
    matches = [{word_stem(w) for w in _WORD.findall(token.group())} & stems for token in tokens]
    best_start, best_count = 0, -1
    for start in range(max(1, len(tokens) - width + 1)):
        count = len(set().union(*matches[start:start + width]))
        if count > best_count:
            best_start, best_count = start, count
    window = tokens[best_start:best_start + width]
    offset = window[0].start()
    passage = text[offset:window[-1].end()]
    highlights = [(offset_in + word.start() - offset, offset_in + word.end() - offset)
                  for token in window for offset_in in [token.start()]
                  for word in _WORD.finditer(token.group()) if word_stem(word.group()) in stems]
    prefix = "…" if best_start > 0 else ""
    suffix = "…" if best_start + width < len(tokens) else ""
    shift = len(prefix)
    return (prefix + passage + suffix,
            [(start + shift, end + shift) for start, end in highlights])
