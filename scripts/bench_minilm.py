"""How fast the built-in all-MiniLM-L6-v2 encodes under each runtime, against sentence-transformers.

    nice -n 5 .venv/bin/python scripts/bench_minilm.py --texts 320 --rounds 3
    nice -n 5 .venv/bin/python scripts/bench_minilm.py --runtimes torch-bf16 --json

The texts are document chunks as `build --corpus` makes them: 200-word windows of the
sections of the Wikipedia dump gensim ships (about 250 word pieces each, near MiniLM's
256), so the figure is that of encoding long documents. The baseline is
sentence-transformers' own `encode` as a user calls it (float32, its default batch of
32), timed in the same process in alternating rounds with each runtime of
`SentenceTransformerEncoder` (`--runtimes`), so a loaded machine slows both alike.
Each row gives texts per second (median round), its speed against the baseline (the
median of the per-round ratios) and the cosine of its vectors with the baseline's
(minimum, and the share of texts below 0.99: the issue's bound). Target: torch-bf16
at least 2x the baseline on a CPU with AVX512-BF16 or AMX, every text above cosine 0.99.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np
import torch

from embedsearch.encoders.sentence_transformer import (MINILM, RUNTIME_VARIABLE, RUNTIMES,
                                                       load_sentence_transformer, native_bfloat16)
from known_item_tasks import wiki_sections

CHUNK_WORDS = 200


def chunk_texts(count: int) -> list[str]:
    """The first `count` 200-word windows of the dump's sections (the last window of a section
    only when it holds at least 150 words)."""
    texts = []
    for _title, _heading, prose in wiki_sections():
        words = prose.split()
        texts.extend(" ".join(words[start:start + CHUNK_WORDS])
                     for start in range(0, len(words) - 150, CHUNK_WORDS))
        if len(texts) >= count:
            return texts[:count]
    return texts


def encoder(runtime: str):
    os.environ[RUNTIME_VARIABLE] = runtime
    built = load_sentence_transformer(MINILM)
    built.show_progress = False
    return built


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=320)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runtimes", nargs="+", default=["torch", "torch-bf16"], choices=RUNTIMES)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    texts = chunk_texts(args.texts)
    encoders = {runtime: encoder(runtime) for runtime in args.runtimes}
    baseline_model = next(iter(encoders.values())).model
    reference = baseline_model.encode(texts, normalize_embeddings=True)  # warm-up and reference
    for built in encoders.values():
        built.encode(texts[:32])  # warm-up (the ONNX session, bfloat16 kernels)
    seconds = {"sentence-transformers": [], **{runtime: [] for runtime in encoders}}
    cosines = {}
    for _round in range(args.rounds):
        start = time.perf_counter()
        baseline_model.encode(texts, normalize_embeddings=True)
        seconds["sentence-transformers"].append(time.perf_counter() - start)
        for runtime, built in encoders.items():
            start = time.perf_counter()
            vectors = built.encode(texts)
            seconds[runtime].append(time.perf_counter() - start)
            cosines[runtime] = (vectors * reference).sum(axis=1)
    rows = []
    for name, times in seconds.items():
        ratios = [base / own for base, own in zip(seconds["sentence-transformers"], times)]
        row = {"runtime": name, "texts_per_second": round(len(texts) / statistics.median(times), 1),
               "speedup": round(statistics.median(ratios), 2),
               "rounds_texts_per_second": [round(len(texts) / t, 1) for t in times]}
        if name in cosines:
            row["cosine_min"] = round(float(cosines[name].min()), 5)
            row["below_099_percent"] = round(float((cosines[name] < 0.99).mean()) * 100, 2)
        rows.append(row)
    setting = {"texts": len(texts), "threads": torch.get_num_threads(),
               "native_bfloat16": native_bfloat16(), "cpu": torch.backends.cpu.get_cpu_capability()}
    if args.json:
        print(json.dumps({"setting": setting, "rows": rows}, indent=2))
        return
    print(json.dumps(setting))
    print(f"{'runtime':24} {'texts/s':>8} {'speedup':>8} {'cos min':>8} {'<0.99':>6}  rounds")
    for row in rows:
        print(f"{row['runtime']:24} {row['texts_per_second']:8.1f} {row['speedup']:7.2f}x "
              f"{row.get('cosine_min', 1):8.5f} {row.get('below_099_percent', 0):5.1f}%  "
              f"{row['rounds_texts_per_second']}")


if __name__ == "__main__":
    main()
