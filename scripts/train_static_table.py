"""Rebuild the built-in `minilm-static` table: distil MiniLM's tokens, fit them to MiniLM on real texts.

Steps (each cached in --work, so a rerun resumes):

1. `collect`: training texts, none from the held-out retrieval tasks' sources
   (standard-library docstrings, gensim's Wikipedia and Lee corpora): the
   docstrings of the third-party packages in a site-packages folder (test
   folders skipped, doctest and parameter blocks dropped) and, where given,
   the API documentation strings of botocore's JSON service models (HTML
   stripped); paragraphs of 12 to 300 words, de-duplicated, shuffled (seed 0),
   each cut to its first 64 words;
2. `teacher`: MiniLM's unit vector of each of the first --texts texts, and
   MiniLM's vector of every vocabulary token alone;
3. `fit`: the distilled rows (`distilled_rows`) fitted to the teacher's
   vectors (`embedsearch.train.static_table.fit_table`; the last 2,000 texts
   held out to report the cosine loss), reduced by PCA to 256 dimensions and
   written over the package's table.

    python scripts/train_static_table.py --site-packages .venv/lib/python3.11/site-packages \\
        --botocore /usr/lib/google-cloud-sdk/lib/third_party/botocore/data --work /tmp/static-table

Needs the `sentence-transformers` extra. On the 2-core VM: 16,000 texts took
35 minutes of teacher encoding under load and 5 minutes of fitting.
"""

from __future__ import annotations

import argparse
import ast
import html
import json
import random
import re
from pathlib import Path

import numpy as np

MIN_WORDS, MAX_WORDS, KEPT_WORDS = 12, 300, 64
HELD_OUT = 2000


def _paragraph(text: str) -> str | None:
    text = re.sub(r"\s+", " ", text).strip()
    words = len(text.split())
    if MIN_WORDS <= words <= MAX_WORDS and sum(c.isalpha() for c in text) > 0.6 * len(text):
        return text
    return None


def docstring_paragraphs(site_packages: Path):
    for path in sorted(site_packages.rglob("*.py")):
        if "/test" in str(path):
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8", errors="ignore"))
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module)):
                for paragraph in re.split(r"\n\s*\n", ast.get_docstring(node) or ""):
                    if not re.search(r">>>|^\s*[-=]{3,}|:param|Parameters$", paragraph, re.M):
                        yield paragraph


def botocore_paragraphs(folder: Path):
    def walk(value):
        if isinstance(value, dict):
            for key, inner in value.items():
                if key == "documentation" and isinstance(inner, str):
                    for part in re.split(r"</p>|<br\s*/?>|\n\n", inner):
                        yield html.unescape(re.sub(r"<[^>]+>", " ", part))
                else:
                    yield from walk(inner)
        elif isinstance(value, list):
            for inner in value:
                yield from walk(inner)

    for path in sorted(folder.glob("*/*/service-2.json")):
        yield from walk(json.loads(path.read_text(encoding="utf-8")))


def collect(site_packages: Path, botocore: Path | None, out: Path) -> None:
    sources = [docstring_paragraphs(site_packages)] + ([botocore_paragraphs(botocore)] if botocore else [])
    texts = sorted({kept for source in sources for paragraph in source
                    if (kept := _paragraph(paragraph))})
    random.Random(0).shuffle(texts)
    out.write_text("".join(json.dumps(" ".join(t.split()[:KEPT_WORDS])) + "\n" for t in texts))
    print(f"{len(texts):,} training texts in {out}")


def teacher(texts_file: Path, count: int, work: Path) -> None:
    from embedsearch.encoders import load_encoder
    from embedsearch.encoders.static_tokens import teacher_token_vectors

    tokens, targets = work / "token_vectors.npy", work / f"teacher_{count}.npy"
    if tokens.exists() and targets.exists():
        return
    model = load_encoder("all-minilm-l6-v2").model
    if not tokens.exists():
        vocabulary = len(model[0].tokenizer.get_vocab())
        np.save(tokens, teacher_token_vectors(model, list(range(vocabulary))))
    if not targets.exists():
        texts = [json.loads(line) for line, _ in zip(open(texts_file), range(count))]
        vectors = model.encode(texts, batch_size=64, show_progress_bar=True, normalize_embeddings=True)
        np.save(targets, vectors.astype(np.float32))


def fit(texts_file: Path, count: int, work: Path, epochs: int, learning_rate: float) -> None:
    import torch

    from embedsearch.encoders.static_tokens import (BUILTIN_TABLE, distilled_rows,
                                                    load_static_minilm, reduced_table)
    from embedsearch.files import write_atomically
    from embedsearch.train.static_table import fit_table

    encoder = load_static_minilm()
    texts = [json.loads(line) for line, _ in zip(open(texts_file), range(count))]
    token_ids = encoder.token_ids(texts)
    targets = np.load(work / f"teacher_{count}.npy")
    vocabulary = encoder.tokenizer.get_vocab()
    special = [vocabulary[t] for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")]
    start = distilled_rows(np.load(work / "token_vectors.npy"), special)
    train, held_out = slice(0, count - HELD_OUT), slice(count - HELD_OUT, count)

    def loss(table):
        sums = np.stack([table[ids].sum(axis=0) for ids in token_ids[held_out]])
        sums /= np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
        return float((1 - (sums * targets[held_out]).sum(axis=1)).mean())

    torch.set_num_threads(2)
    fitted = fit_table(start, token_ids[train], targets[train], special_ids=special, epochs=epochs,
                       learning_rate=learning_rate, show_progress=True)
    print(f"held-out cosine loss: distilled {loss(start):.3f}, fitted {loss(fitted):.3f}")
    table = reduced_table(fitted)
    write_atomically(BUILTIN_TABLE, lambda path: np.save(path, table, allow_pickle=False), suffix=".npy")
    print(f"wrote {BUILTIN_TABLE} {table.shape} {table.dtype}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site-packages", type=Path, required=True)
    parser.add_argument("--botocore", type=Path, help="botocore's data folder (optional)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/static-table"))
    parser.add_argument("--texts", type=int, default=16000)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    texts_file = args.work / "texts.jsonl"
    if not texts_file.exists():
        collect(args.site_packages, args.botocore, texts_file)
    teacher(texts_file, args.texts, args.work)
    fit(texts_file, args.texts, args.work, args.epochs, args.learning_rate)


if __name__ == "__main__":
    main()
