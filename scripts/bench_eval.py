"""Time embedsearch's evaluations against gensim's on the same vectors, and check they agree.

One run on the GloVe 6B 50d word index (400,000 words): the Google analogy set
through `embedsearch.evaluate.evaluate_analogies` and through gensim's
`KeyedVectors.evaluate_word_analogies` on a KeyedVectors holding the index's
own vectors, then WordSim-353 and SimLex-999 both ways. It prints both
timings and their ratio, and checks that the accuracy, the skipped count and
every section's correct and incorrect lists are equal (exit code 1 if not).

Our timing includes reading the vocabulary from the index's SQLite file;
gensim's excludes building its KeyedVectors (already in memory).

    .venv/bin/python scripts/bench_eval.py                      # builds GloVe into a temp dir
    .venv/bin/python scripts/bench_eval.py --index /tmp/es/glove  # reuses a built index
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def gensim_keyed_vectors(index):
    """A gensim KeyedVectors holding exactly the index's vectors, keyed in id order."""
    from gensim.models import KeyedVectors

    rows = index.items.connection.execute("SELECT id, key FROM items ORDER BY id").fetchall()
    if [row[0] for row in rows] != list(range(index.manifest.rows)):
        sys.exit("the index has deleted rows: build a fresh one")
    keyed = KeyedVectors(index.dim)
    keyed.add_vectors([row[1] for row in rows], np.array(index.vectors, dtype=np.float32))
    return keyed


def timed(function, *args, **kwargs):
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - started


def bench_analogies(index, keyed, questions: Path) -> bool:
    from embedsearch.evaluate import evaluate_analogies

    ours, our_seconds = timed(evaluate_analogies, index, questions)
    (score, sections), gensim_seconds = timed(keyed.evaluate_word_analogies, str(questions))
    answered = len(sections[-1]["correct"]) + len(sections[-1]["incorrect"])
    same_lists = [(s.name, s.correct, s.incorrect) for s in ours.sections] == \
        [(s["section"], s["correct"], s["incorrect"]) for s in sections[:-1]]
    same = ours.accuracy == score and ours.answered == answered and same_lists
    print(f"analogies ({questions.name}, 3CosAdd, first 300,000 rows, case-insensitive)")
    print(f"  embedsearch  accuracy {ours.accuracy:.6f} ({ours.correct}/{ours.answered}), "
          f"skipped {ours.skipped}, {our_seconds:.1f} s")
    print(f"  gensim       accuracy {score:.6f} ({len(sections[-1]['correct'])}/{answered}), "
          f"skipped {ours.questions - answered}, {gensim_seconds:.1f} s")
    print(f"  speed-up {gensim_seconds / our_seconds:.1f}x; accuracy, skipped and every section's "
          f"correct/incorrect lists {'EQUAL' if same else 'DIFFER'}")
    return same


def bench_word_pairs(index, keyed) -> bool:
    from embedsearch.evaluate import evaluate_word_pairs
    from embedsearch.evaluate.word_pairs import default_pair_files

    all_same = True
    for name, path in default_pair_files().items():
        ours, our_seconds = timed(evaluate_word_pairs, index, path)
        (pearson, spearman, oov), gensim_seconds = timed(keyed.evaluate_word_pairs, str(path))
        same = (abs(ours.pearson - pearson[0]) < 1e-6 and abs(ours.spearman - spearman[0]) < 1e-6
                and abs(ours.oov_ratio - oov) < 1e-9)
        all_same &= same
        print(f"{name}")
        print(f"  embedsearch  pearson {ours.pearson:.4f}  spearman {ours.spearman:.4f}  "
              f"oov {ours.oov_ratio:.2f}%  {our_seconds:.2f} s")
        print(f"  gensim       pearson {pearson[0]:.4f}  spearman {spearman[0]:.4f}  "
              f"oov {oov:.2f}%  {gensim_seconds:.2f} s   {'EQUAL' if same else 'DIFFER'} (to 1e-6)")
    return all_same


def main() -> None:
    from embedsearch.evaluate.vocabulary import gensim_test_file
    from embedsearch.index import Index

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", help="a built GloVe word index (default: build one in a temp dir)")
    parser.add_argument("--questions", type=Path, default=None,
                        help="analogy file (default: gensim's questions-words.txt)")
    args = parser.parse_args()
    questions = args.questions or gensim_test_file("questions-words.txt")
    with tempfile.TemporaryDirectory() as scratch:
        path = args.index
        if path is None:
            from embedsearch.indexing.build import build_vocabulary_index
            from embedsearch.encoders import load_encoder

            path = Path(scratch) / "glove"
            print(build_vocabulary_index(load_encoder("glove-6b-50d"), path).lines()[0])
        with Index.open(path) as index:
            keyed = gensim_keyed_vectors(index)
            print(f"index {path}: {index.count:,} words, dimension {index.dim}")
            same = bench_analogies(index, keyed, questions)
            same &= bench_word_pairs(index, keyed)
    sys.exit(0 if same else 1)


if __name__ == "__main__":
    main()
