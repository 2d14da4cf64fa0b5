"""The first step of the data path: corpora read as a stream of items, chunks, word tokens.

`read_corpus` yields one `Item` (key, text, source, position, metadata) at a
time from a text file, a folder, JSON Lines or Parquet; `chunk_text` cuts documents
into sentence-aligned chunks; `tokenize` is the one word tokeniser shared by
word vectors, training and queries.
"""

from .chunks import chunk_text, split_sentences
from .readers import (CorpusReport, Item, check_unit, corpus_files, read_corpus,
                      read_corpus_file)
from .words import tokenize

__all__ = ["CorpusReport", "Item", "check_unit", "chunk_text", "corpus_files", "read_corpus",
           "read_corpus_file", "split_sentences",
           "tokenize"]
