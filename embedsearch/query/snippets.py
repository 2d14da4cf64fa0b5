"""A short passage of a hit's text around the query's words, with those words marked.

The window of about `SNIPPET_CHARS` characters holding the most distinct query words
wins (the earliest on ties; common words like "the" never count); a word matches a query word when both agree
after lower-casing and dropping a plural or verb ending ("searches" matches
"search"). Highlights are (start, end) offsets into the snippet, so the
terminal can embolden them and JSON can carry them without markup in the text.

>>> snippet("We built a fast index. Searching it is quick.", ["searches", "quick"], width=24)
('…Searching it is quick.', [(1, 10), (17, 22)])
>>> snippet("Alpha beta gamma delta", ["beta"])
('Alpha beta gamma delta', [(6, 10)])
"""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache
from typing import Sequence

SNIPPET_CHARS = 200
# Never highlighted: they match everywhere and say nothing about why a passage matched.
STOPWORDS = frozenset("""a an and are as at be but by for from has have he her his i in is it its
of on or our she that the their them they this to was we were what when which who will with you
your""".split())
_ENDINGS = ("ing", "es", "ed", "s")


def word_stem(word: str) -> str:
    """A crude stem: lower-cased, one common ending dropped if at least 3 letters remain."""
    word = word.lower()
    for ending in _ENDINGS:
        if word.endswith(ending) and len(word) - len(ending) >= 3:
            return word[:-len(ending)]
    return word


def snippet(text: str, query_words: Sequence[str], width: int = SNIPPET_CHARS
            ) -> tuple[str, list[tuple[int, int]]]:
    """(passage of about `width` characters cut at spaces, highlight offsets into it);
    '…' marks a cut."""
    matches = _matches(text, query_words)
    first, last = _window(matches, width, len(text))
    start = _word_boundary(text, first)
    end = _word_boundary(text, last)
    passage = text[start:end]
    lead = len(passage) - len(passage.lstrip())
    prefix = "…" if start > 0 else ""
    suffix = "…" if end < len(text) else ""
    shift = len(prefix) - start - lead
    highlights = [(m_start + shift, m_end + shift) for m_start, m_end, _ in matches
                  if start + lead <= m_start and m_end <= end]
    return prefix + passage.strip() + suffix, highlights


def _word_boundary(text: str, position: int) -> int:
    """`position`, or the next space after it if it falls inside a word."""
    if position <= 0 or position >= len(text) or text[position - 1].isspace():
        return max(0, min(position, len(text)))
    found = text.find(" ", position)
    return len(text) if found < 0 else found + 1


def _matches(text: str, query_words: Sequence[str]) -> list[tuple[int, int, str]]:
    """(start, end, stem) of every word of `text` that matches a query word.

    A case-blind pattern of the forms finds the candidates in C; each is then checked
    by the rule itself (its lower-cased form is one of the forms)."""
    forms, pattern = _forms_pattern(tuple(query_words))
    if not forms:
        return []
    return [(word.start(), word.end(), forms[lowered]) for word in pattern.finditer(text)
            if (lowered := word.group().lower()) in forms]


@lru_cache(maxsize=256)
def _forms_pattern(query_words: tuple[str, ...]) -> tuple[dict[str, str], re.Pattern]:
    forms = _forms(query_words)
    alternatives = "|".join(map(re.escape, sorted(forms, key=len, reverse=True)))
    return forms, re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


@lru_cache(maxsize=256)
def _forms(query_words: tuple[str, ...]) -> dict[str, str]:
    """Every lower-cased word form that stems to a query word's stem -> that stem."""
    stems = {word_stem(word) for word in query_words if word.lower() not in STOPWORDS}
    return {stem + ending: stem for stem in stems for ending in ("", *_ENDINGS)
            if word_stem(stem + ending) == stem}


def _window(matches: list[tuple[int, int, str]], width: int, length: int) -> tuple[int, int]:
    """(start, end) characters of a `width`-character window holding the most distinct matched
    stems, started a little before its first match where that keeps every match in it."""
    if length <= width or not matches:
        return 0, min(length, width)
    best_first, best_last, best_count = 0, 0, 0
    inside: Counter = Counter()
    right = 0
    for position, _, stem in matches:
        while right < len(matches) and matches[right][1] <= position + width:
            inside[matches[right][2]] += 1
            right += 1
        if len(inside) > best_count:
            best_first, best_last, best_count = position, matches[right - 1][1], len(inside)
        if inside[stem]:
            inside[stem] -= 1
            if not inside[stem]:
                del inside[stem]
    start = max(0, min(best_first - width // 10, length - width), best_last - width)
    return start, start + width
