"""The first step of the data path: corpora read as a stream of items, chunks, word tokens.

`read_corpus` yields one `Item` (key, text, source, position, metadata) at a
time from a text file, a folder, JSON Lines or Parquet; `chunk_text` cuts documents
into sentence-aligned chunks (`chunk_item`: into chunk items that know their
document and offsets); `tokenize` is the one word tokeniser shared by
word vectors, training and queries.
"""

from .chunks import (CHUNK_FIELD, DEFAULT_CHUNK_OVERLAP, DEFAULT_CHUNK_WORDS, check_chunking,
                     chunk_item, chunk_spans, chunk_text, split_sentences)
from .readers import (CorpusReport, Item, check_unit, corpus_files, read_corpus,
                      read_corpus_file)
from .words import tokenize

__all__ = ["CHUNK_FIELD", "DEFAULT_CHUNK_OVERLAP", "DEFAULT_CHUNK_WORDS", "CorpusReport", "Item",
           "check_chunking", "check_unit", "chunk_item", "chunk_spans", "chunk_text",
           "corpus_files", "read_corpus", "read_corpus_file", "split_sentences", "tokenize"]
