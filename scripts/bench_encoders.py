"""Encoder speed on this machine: texts encoded per second, and training tokens per second.

For each encoder at its default sizes: word vectors (word2vec trained here,
and the built-in GloVe 6B 50d for encoding), the token+position embedder and
the attention encoder (and, as the baseline for its lexical channel, the
same encoder without it). Training runs are short (a few batches or one pass
over the Lee corpus): long enough for a steady rate, not for a good model.
Encoding is timed on the Lee corpus' news articles cut into ~48-word chunks.

    python scripts/bench_encoders.py                 # 2 threads (torch), as the issue asks
    python scripts/bench_encoders.py --threads 1 --json

Training tokens are what each trainer reads: words for word2vec (gensim's
count x epochs), BPE tokens of the windows for token+position, non-padding
BPE tokens of both sides of every pair for the attention encoder. The CPU
time next to each wall time shows how much of the machine the run had: on
a machine shared with other work, CPU / wall falls below the thread count.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import gensim

from embedsearch.corpus import chunk_text

LEE = Path(gensim.__file__).parent / "test" / "test_data" / "lee_background.cor"


def timed(function):
    """(result, wall seconds, CPU seconds of this process)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = function()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def encode_rate(encoder, texts: list[str], repeats: int) -> dict:
    encoder.encode_batch(texts[:64])  # warm-up: lazy loads, thread pools
    _, wall, cpu = timed(lambda: [encoder.encode_batch(texts) for _ in range(repeats)])
    return {"texts_per_second": round(len(texts) * repeats / wall, 1), "wall_seconds": round(wall, 2),
            "cpu_seconds": round(cpu, 2)}


def bench_word2vec(workdir: Path) -> dict:
    from embedsearch.train.word2vec import Word2VecTraining, train_word2vec

    config = Word2VecTraining(min_count=2, epochs=5, workers=0)
    _, wall, cpu = timed(lambda: train_word2vec(LEE, workdir / "w2v", config, show_progress=False))
    training = json.loads((workdir / "w2v" / "config.json").read_text())["training"]
    tokens = training["corpus_words"] * config.epochs
    return {"train_tokens_per_second": round(tokens / training["seconds"], 1),
            "train_wall_seconds": round(wall, 2), "train_cpu_seconds": round(cpu, 2)}


def bench_token_position(workdir: Path) -> dict:
    from embedsearch.train.token_position import TokenPositionTraining, train_token_position

    result, wall, cpu = timed(lambda: train_token_position(
        LEE, workdir / "tp", TokenPositionTraining(epochs=1), show_progress=False))
    seconds = sum(stats.seconds for stats in result.history)
    return {"encoder": result.encoder,
            "train_tokens_per_second": round(result.train_tokens / seconds, 1),
            "train_wall_seconds": round(wall, 2), "train_cpu_seconds": round(cpu, 2)}


def bench_attention(workdir: Path, steps: int, lexical_dim: int | None = None) -> dict:
    """Defaults, or with another lexical channel width (0: the transformer alone)."""
    from embedsearch.train.attention import AttentionTraining, train_attention

    training = AttentionTraining(epochs=1, steps_per_epoch=steps, validation_batches=1)
    if lexical_dim is not None:
        training.model.lexical_dim = lexical_dim
    out = workdir / f"attention-{lexical_dim}"
    result, wall, cpu = timed(lambda: train_attention(LEE, out, training, show_progress=False))
    return {"encoder": result.encoder, "train_tokens_per_second": round(result.tokens_per_second, 1),
            "train_wall_seconds": round(wall, 2), "train_cpu_seconds": round(cpu, 2)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="torch threads (and word2vec workers)")
    parser.add_argument("--attention-steps", type=int, default=30, help="batches of attention training")
    parser.add_argument("--repeats", type=int, default=3, help="passes over the texts when encoding")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    os.sched_setaffinity(0, range(min(args.threads, os.cpu_count() or 1)))  # what "cores" means below

    from embedsearch.encoders import load_encoder

    texts = [chunk for line in LEE.read_text().splitlines() for chunk in chunk_text(line)]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        glove = load_encoder("glove-6b-50d")
        results["word vectors (GloVe 50d / word2vec)"] = {
            **bench_word2vec(workdir), **encode_rate(glove, texts, args.repeats)}
        print("word vectors done", file=sys.stderr)
        for name, bench in (("token+position", lambda: bench_token_position(workdir)),
                            ("attention", lambda: bench_attention(workdir, args.attention_steps)),
                            ("attention, transformer only (--lexical-dim 0)",
                             lambda: bench_attention(workdir, args.attention_steps, lexical_dim=0))):
            figures = bench()
            encoder = figures.pop("encoder")
            results[name] = {**figures, **encode_rate(encoder, texts, args.repeats)}
            print(f"{name} done", file=sys.stderr)
    load = os.getloadavg()[0]
    if args.json:
        print(json.dumps({"threads": args.threads, "texts": len(texts), "load_average": load,
                          "results": results}, indent=2))
        return 0
    print(f"{len(texts):,} texts (Lee corpus, ~48-word chunks), {args.threads} cores; "
          f"load average {load:.1f} at the end")
    print("| encoder | texts/s encoded | training tokens/s | training wall / CPU s |")
    print("|---|---:|---:|---:|")
    for name, figures in results.items():
        print(f"| {name} | {figures['texts_per_second']:,.0f} | "
              f"{figures['train_tokens_per_second']:,.0f} | "
              f"{figures['train_wall_seconds']:.0f} / {figures['train_cpu_seconds']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
