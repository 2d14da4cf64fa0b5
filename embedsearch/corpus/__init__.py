"""The first step of the data path: corpora read as a stream of items, chunks, word tokens.

`read_corpus` yields one `Item` (key, text, source, position, metadata) at a
time from a text file, a folder or JSON Lines; `chunk_text` cuts documents
into sentence-aligned chunks; `tokenize` is the one word tokeniser shared by
word vectors, training and queries.
"""

from .chunks import chunk_text, split_sentences
from .readers import CorpusReport, Item, corpus_files, read_corpus
from .words import tokenize

__all__ = ["CorpusReport", "Item", "chunk_text", "corpus_files", "read_corpus", "split_sentences",
           "tokenize"]
