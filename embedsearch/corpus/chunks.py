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
    if chunk_words < 1:
        raise ValueError("chunk_words must be at least 1")
    chunks: list[list[str]] = []
    current: list[str] = []
    for sentence in split_sentences(text):
        words = sentence.split()
        # Very long "sentences" (lists, tables) are cut so no chunk grows unbounded.
        pieces = ([words] if len(words) <= 2 * chunk_words
                  else [words[i:i + chunk_words] for i in range(0, len(words), chunk_words)])
        for piece in pieces:
            current.extend(piece)
            if len(current) >= chunk_words:
                chunks.append(current)
                current = []
    if current:
        if chunks and len(current) < chunk_words / 2:
            chunks[-1].extend(current)
        else:
            chunks.append(current)
    return [" ".join(words) for words in chunks]
