"""Splitting a document into sentence-aligned chunks of about N words.

The retrieval evaluation and the attention trainer must cut documents the
same way: the evaluation asks "given one chunk, find the other chunks of its
document", and the trainer learns from neighbouring chunks of the same
document. Chunks end at sentence boundaries where they can; a sentence longer
than twice the target is cut on word boundaries.

>>> chunk_text("One two three. Four five. Six seven eight nine.", chunk_words=4)
['One two three. Four five.', 'Six seven eight nine.']
"""

from __future__ import annotations

import re

from ..errors import InputError
from .readers import Item

# Chosen on held-out known-item tasks (docs/search.md).
DEFAULT_CHUNK_WORDS = 200
DEFAULT_CHUNK_OVERLAP = 0
CHUNK_FIELD = "chunk"  # the metadata field of a chunk item: its document, number and offsets
_WORD = re.compile(r"\S+")

# A sentence ends at . ! or ? followed by space and an upper-case letter, digit or quote.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]?\s+(?=[\"'(\[]?[A-Z0-9])")


def split_sentences(text: str) -> list[str]:
    """Sentences of `text`, whitespace collapsed; a text with no boundary is one sentence."""
    text = " ".join(text.split())
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()] if text else []


def chunk_text(text: str, chunk_words: int = 48) -> list[str]:
    """Consecutive chunks of whole sentences, each closing once it holds `chunk_words` words.

    A trailing chunk shorter than half the target is merged into the one before.
    """
    sentences = [sentence.split() for sentence in split_sentences(text)]
    return [" ".join(words) for words in _pack(sentences, chunk_words)]


def chunk_spans(text: str, chunk_words: int = 200, overlap: int = 0) -> list[tuple[int, int]]:
    """(start, end) character offsets of `text`'s chunks, so `text[start:end]` is each chunk.

    The same sentence-aligned cut as `chunk_text` (whitespace kept as it is
    in `text`); with `overlap`, each chunk after the first also repeats the
    last whole sentences of the one before, up to `overlap` words.

    >>> text = "One two three. Four five. Six seven eight nine."
    >>> [text[start:end] for start, end in chunk_spans(text, chunk_words=4)]
    ['One two three. Four five.', 'Six seven eight nine.']
    """
    sentences, start = [], 0
    for boundary in [*_SENTENCE_END.finditer(text), None]:
        # A boundary match starts with the quote or bracket closing its sentence, if any: keep it.
        stop = boundary.start() + (not boundary.group()[0].isspace()) if boundary else len(text)
        words = [word.span() for word in _WORD.finditer(text, start, stop)]
        if words:
            sentences.append(words)
        start = boundary.end() if boundary else stop
    return [(words[0][0], words[-1][1]) for words in _pack(sentences, chunk_words, overlap)]


def chunk_item(item: Item, chunk_words: int, overlap: int = 0) -> list[Item]:
    """`item` cut into chunk items, or `[item]` itself when it makes a single chunk.

    Chunk 1 keeps the item's key, chunk n > 1 is keyed `key#n`; each chunk's
    metadata gains `chunk`: {"document": key, "number": n, "start", "end"}
    (character offsets into the item's text). Source and position stay.
    """
    if chunk_words <= 0 or len(item.text.split()) <= chunk_words:  # one chunk at most
        return [item]
    spans = chunk_spans(item.text, chunk_words, overlap)
    if len(spans) <= 1:
        return [item]
    return [Item(item.key if number == 1 else f"{item.key}#{number}", item.text[start:end],
                 item.source, item.position,
                 {**item.metadata, CHUNK_FIELD: {"document": item.key, "number": number,
                                                 "start": start, "end": end}})
            for number, (start, end) in enumerate(spans, start=1)]


def check_chunking(chunk_words: int | None, overlap: int = 0) -> None:
    """An error unless `chunk_words` is None (no chunking) or >= 1 and 0 <= overlap < chunk_words."""
    if chunk_words is None:
        return
    if not isinstance(chunk_words, int) or chunk_words < 1:
        raise InputError(f"chunk_words must be a positive number of words, not {chunk_words}")
    if not isinstance(overlap, int) or not 0 <= overlap < chunk_words:
        raise InputError(f"the chunk overlap must be from 0 to chunk_words - 1 ({chunk_words - 1}), "
                         f"not {overlap}")


def _pack(sentences: list[list], chunk_words: int, overlap: int = 0) -> list[list]:
    """Words of consecutive sentences packed into chunks of about `chunk_words` words.

    A chunk closes once it holds `chunk_words` words; a sentence longer than
    twice that is cut into `chunk_words`-word pieces; a trailing chunk shorter
    than half the target is merged into the one before. With `overlap`, a new
    chunk starts with the closed one's last pieces holding up to `overlap` words.
    """
    if chunk_words < 1:
        raise ValueError("chunk_words must be at least 1")
    chunks: list[list] = []
    pieces: list[list] = []  # the current chunk's pieces; the first `carried` came from the last
    carried = 0
    for words in sentences:
        for piece in ([words] if len(words) <= 2 * chunk_words
                      else [words[i:i + chunk_words] for i in range(0, len(words), chunk_words)]):
            pieces.append(piece)
            if sum(map(len, pieces)) >= chunk_words:
                chunks.append([word for piece in pieces for word in piece])
                pieces = _tail(pieces, overlap)
                carried = len(pieces)
    fresh = [word for piece in pieces[carried:] for word in piece]
    if fresh:
        if chunks and len(fresh) < chunk_words / 2:
            chunks[-1].extend(fresh)
        else:
            chunks.append([word for piece in pieces for word in piece])
    return chunks


def _tail(pieces: list[list], overlap: int) -> list[list]:
    """The last whole pieces holding at most `overlap` words together."""
    tail, words = [], 0
    for piece in reversed(pieces):
        if words + len(piece) > overlap:
            break
        tail.insert(0, piece)
        words += len(piece)
    return tail
