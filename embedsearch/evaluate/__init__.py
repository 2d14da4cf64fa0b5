"""Benchmarks of word vectors and indexes: analogies, word-pair similarity, ANN recall.

Each evaluation takes an opened `Index` and returns a report dataclass with a
`to_dict()` for JSON; the CLI (`embedsearch eval ...`) prints and plots them.
The analogy and word-pair figures reproduce gensim's `KeyedVectors`
evaluations exactly, on the index's own vectors.
"""

from .analogies import AnalogyReport, evaluate_analogies
from .ann import AnnReport, evaluate_ann
from .word_pairs import WordPairsReport, evaluate_word_pairs

__all__ = ["AnalogyReport", "AnnReport", "WordPairsReport", "evaluate_analogies", "evaluate_ann",
           "evaluate_word_pairs"]
