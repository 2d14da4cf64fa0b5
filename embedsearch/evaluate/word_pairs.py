"""Word-pair similarity benchmarks (WordSim-353, SimLex-999), by gensim's rules.

`evaluate_word_pairs` gives the Pearson and Spearman correlations (with their
p-values) between human scores and cosine similarities, and the share of pairs
with an unknown word, as gensim's `KeyedVectors.evaluate_word_pairs` does:
lines starting with '#' are comments; other lines must split on the delimiter
into exactly two words and a number, or are skipped uncounted; words are
looked up among the first `restrict_vocab` rows, folded to upper case (the
earliest row wins); a pair with an unknown word is left out and counted.

    report = evaluate_word_pairs(Index.open("glove"), gensim_test_file("wordsim353.tsv"))
    round(report.spearman, 4)
    # 0.5033
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..vectors import normalize_rows
from ..errors import InputError
from ..index import Index
from .vocabulary import gensim_test_file, read_lines, vocabulary_ids

WORD_PAIR_SETS = {"wordsim353": "wordsim353.tsv", "simlex999": "simlex999.txt"}


@dataclass
class WordPairsReport:
    """Correlations of model similarity with human judgement on one file."""

    path: str
    pearson: float
    pearson_pvalue: float
    spearman: float
    spearman_pvalue: float
    pairs: int  # pairs scored
    unknown: int  # pairs left out for an unknown word

    @property
    def oov_ratio(self) -> float:
        """Percentage of pairs with an unknown word (gensim reports a percentage)."""
        return 100.0 * self.unknown / (self.pairs + self.unknown)

    def to_dict(self) -> dict:
        return {"pairs_file": self.path, "pearson": self.pearson, "pearson_pvalue": self.pearson_pvalue,
                "spearman": self.spearman, "spearman_pvalue": self.spearman_pvalue,
                "pairs": self.pairs, "unknown": self.unknown, "oov_ratio": self.oov_ratio}


def default_pair_files() -> dict[str, Path]:
    """WordSim-353 and SimLex-999 as shipped in gensim's test data."""
    return {name: gensim_test_file(file) for name, file in WORD_PAIR_SETS.items()}


def evaluate_word_pairs(index: Index, pairs_path: str | Path, restrict_vocab: int | None = 300000,
                        case_insensitive: bool = True, delimiter: str = "\t",
                        encoding: str = "utf8") -> WordPairsReport:
    """Pearson, Spearman and unknown-pair ratio of an index's vectors on a word-pair file."""
    from scipy import stats

    fold = str.upper if case_insensitive else str
    pairs = []
    for _, line in read_lines(pairs_path, encoding, text_mode=True):
        if not line or line.startswith("#"):
            continue
        parts = [fold(part) for part in line.split(delimiter)]
        if len(parts) != 3:
            continue
        try:
            pairs.append((parts[0], parts[1], float(parts[2])))
        except ValueError:
            continue
    vocabulary = vocabulary_ids(index, restrict_vocab, case_insensitive,
                                 {word for first, second, _ in pairs for word in (first, second)})
    known = [(vocabulary[first], vocabulary[second], score) for first, second, score in pairs
             if first in vocabulary and second in vocabulary]
    if not known:
        raise InputError(f"no usable word pairs in {pairs_path}: lines must be "
                         f"'word{delimiter}word{delimiter}score' with known words")
    first_ids, second_ids, gold = zip(*known)
    unknown = len(pairs) - len(known)
    model = np.einsum("nd,nd->n", normalize_rows(index.vectors_of(first_ids)),
                      normalize_rows(index.vectors_of(second_ids)))
    pearson = stats.pearsonr(gold, model)
    spearman = stats.spearmanr(gold, model)
    return WordPairsReport(str(pairs_path), float(pearson[0]), float(pearson[1]),
                           float(spearman[0]), float(spearman[1]), len(known), unknown)
