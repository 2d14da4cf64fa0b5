"""Time embedsearch's evaluations against gensim's on the same vectors, and check they agree.

One run on the GloVe 6B 50d word index (400,000 words): the Google analogy set
through `embedsearch.evaluate.evaluate_analogies` and through gensim's
`KeyedVectors.evaluate_word_analogies` on a KeyedVectors holding the index's
own vectors, then WordSim-353 and SimLex-999 both ways. It prints both
timings and their ratio, and checks that the accuracy, the skipped count and
every section's correct and incorrect lists are equal (exit code 1 if not).

Our timing includes reading the vocabulary from the index's SQLite file;
gensim's excludes building its KeyedVectors (already in memory).

`--paired N` instead times the analogy evaluation as a user runs it, N rounds
alternating in one run: `embedsearch eval analogy --index PATH` as a cold
process (wall time: imports, opening the index, everything), then gensim's
`evaluate_word_analogies` in a fresh process on a KeyedVectors loaded from
the same built-in vectors (the call only, restrict_vocab 300,000 both), then
this machine's matrix-multiply limit: one float32 GEMM of the evaluation's
total size (answered questions x candidate rows x dim), and the smaller GEMM
of the questions' distinct words that our engine runs (`gemm_limits`).
`uptime` is printed before every round.

    .venv/bin/python scripts/bench_eval.py                      # builds GloVe into a temp dir
    .venv/bin/python scripts/bench_eval.py --index /tmp/es/glove  # reuses a built index
    nice -n 10 .venv/bin/python scripts/bench_eval.py --index /tmp/es/glove --paired 3
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
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


RESTRICT_VOCAB = 300_000


def gensim_child(questions: Path) -> None:
    """Run in a fresh process: gensim's evaluation on the built-in GloVe vectors, as JSON."""
    from gensim.models import KeyedVectors

    from embedsearch.encoders.builtin import load_glove_6b_50d

    glove = load_glove_6b_50d()
    keyed = KeyedVectors(glove.dim)
    words, vectors = glove.vocabulary()
    keyed.add_vectors(list(words), np.asarray(vectors, dtype=np.float32))
    (score, sections), seconds = timed(keyed.evaluate_word_analogies, str(questions),
                                       restrict_vocab=RESTRICT_VOCAB)
    print(json.dumps({"seconds": seconds, "accuracy": score,
                      "correct": len(sections[-1]["correct"]),
                      "total": len(sections[-1]["correct"]) + len(sections[-1]["incorrect"])}))


GEMM_BLOCK = 1024  # questions per block of the full-size GEMM (its output, 1.2 GB, preallocated)


def gemm_limits(index, questions: Path) -> dict[str, tuple[float, tuple[int, int, int]]]:
    """Seconds of two float32 GEMMs (output preallocated and touched), with their shapes.

    "total": the limit the issue names, one GEMM of the evaluation's total size: every answered
    question's query vector against every candidate row (questions x rows x dim), in blocks of
    GEMM_BLOCK questions. "distinct": the smaller GEMM our engine actually runs (the questions'
    distinct words x rows x dim), best of 3: the floor of its own first step.
    """
    from embedsearch.evaluate.analogies import _read_questions
    from embedsearch.evaluate.vocabulary import vocabulary_ids

    _, lines = _read_questions(questions, str.upper)
    vocabulary = vocabulary_ids(index, RESTRICT_VOCAB, True, {w for _, q in lines for w in q})
    answered = [[vocabulary[w] for w in q[:3]] for _, q in lines if all(w in vocabulary for w in q)]
    rows = np.asarray(index.vectors[:RESTRICT_VOCAB], dtype=np.float32)
    query_vectors = rows[[b for _, b, _ in answered]] - rows[[a for a, _, _ in answered]] + \
        rows[[c for _, _, c in answered]]
    block = np.ones((GEMM_BLOCK, len(rows)), dtype=np.float32)

    def full_size() -> None:
        for start in range(0, len(query_vectors), GEMM_BLOCK):
            part = query_vectors[start:start + GEMM_BLOCK]
            np.matmul(part, rows.T, out=block[:len(part)])

    word_vectors = rows[sorted({w for question in answered for w in question})]
    out = np.ones((len(word_vectors), len(rows)), dtype=np.float32)
    return {"total": (timed(full_size)[1], (len(query_vectors), len(rows), rows.shape[1])),
            "distinct": (min(timed(np.matmul, word_vectors, rows.T, out=out)[1] for _ in range(3)),
                         (len(word_vectors), len(rows), rows.shape[1]))}


def paired_runs(path: Path, questions: Path, rounds: int) -> bool:
    from embedsearch.index import Index

    cli = Path(sys.executable).parent / "embedsearch"
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    print(f"commit {commit}, {os.cpu_count()} cores, questions {questions.name}")
    same = True
    with Index.open(path) as index:
        for number in range(1, rounds + 1):
            print(f"round {number}: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
            command = [str(cli), "eval", "analogy", "--index", str(path), "--json",
                       "--questions", str(questions), "--restrict", str(RESTRICT_VOCAB)]
            ours_report, ours = timed(subprocess.run, command, capture_output=True, text=True,
                                      check=True)
            ours_json = json.loads(ours_report.stdout)
            child = [sys.executable, __file__, "--gensim-child", "--questions", str(questions)]
            theirs = json.loads(subprocess.run(child, capture_output=True, text=True,
                                               check=True).stdout)
            limits = gemm_limits(index, questions)
            agree = (ours_json["overall"]["accuracy"] == theirs["accuracy"]
                     and ours_json["overall"]["total"] == theirs["total"])
            same &= agree
            print(f"  embedsearch (cold process) {ours:6.2f} s   accuracy "
                  f"{ours_json['overall']['accuracy']:.6f}")
            print(f"  gensim (the call)          {theirs['seconds']:6.2f} s   accuracy "
                  f"{theirs['accuracy']:.6f}   {'EQUAL' if agree else 'DIFFER'}")
            for name, (limit, shape) in limits.items():
                print(f"  GEMM ({name}) {shape[0]:,} x {shape[1]:,} x {shape[2]}   {limit:6.2f} s"
                      f"   ours / this GEMM {ours / limit:.2f}x")
            print(f"  speed-up over gensim {theirs['seconds'] / ours:.1f}x")
    return same


def main() -> None:
    from embedsearch.evaluate.vocabulary import gensim_test_file
    from embedsearch.index import Index

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", help="a built GloVe word index (default: build one in a temp dir)")
    parser.add_argument("--questions", type=Path, default=None,
                        help="analogy file (default: gensim's questions-words.txt)")
    parser.add_argument("--paired", type=int, default=0, metavar="ROUNDS",
                        help="time cold `embedsearch eval analogy` against gensim, alternating")
    parser.add_argument("--gensim-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    questions = args.questions or gensim_test_file("questions-words.txt")
    if args.gensim_child:
        return gensim_child(questions)
    with tempfile.TemporaryDirectory() as scratch:
        path = args.index
        if path is None:
            from embedsearch.indexing.build import build_vocabulary_index
            from embedsearch.encoders import load_encoder

            path = Path(scratch) / "glove"
            print(build_vocabulary_index(load_encoder("glove-6b-50d"), path).lines()[0])
        if args.paired:
            sys.exit(0 if paired_runs(Path(path), questions, args.paired) else 1)
        with Index.open(path) as index:
            keyed = gensim_keyed_vectors(index)
            print(f"index {path}: {index.count:,} words, dimension {index.dim}")
            same = bench_analogies(index, keyed, questions)
            same &= bench_word_pairs(index, keyed)
    sys.exit(0 if same else 1)


if __name__ == "__main__":
    main()
