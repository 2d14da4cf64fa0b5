"""Rebuild the built-in `minilm-static` table: distil MiniLM's tokens, fit them to MiniLM on real texts.

Steps (each cached in --work, so a rerun resumes):

1. `collect`: training texts, none from the held-out retrieval tasks' sources
   (standard-library docstrings, gensim's Wikipedia and Lee corpora), in two sets:
   - technical: the docstrings of the third-party packages in a site-packages
     folder (test folders skipped, doctest and parameter blocks dropped) and,
     where given, the API documentation strings of botocore's JSON service
     models (HTML stripped); paragraphs of 12 to 300 words, de-duplicated,
     shuffled (seed 0), each cut to its first 64 words;
   - general, where given: WordNet 3.0's glosses ("lemmas: definition;
     examples", Debian's `wordnet-base`) and fortune cookies of 12 to 300 words
     (Debian's `fortunes`, cut to 64 words), de-duplicated, shuffled (seed 0):
     everyday words in company, which the technical set lacks;
2. `teacher`: MiniLM's unit vector of each of the first --texts technical and
   --general-texts general texts, and MiniLM's vector of every vocabulary token alone;
3. `fit`: the distilled rows (`distilled_rows`) fitted to the teacher's
   vectors (`embedsearch.train.static_table.fit_table`; the last 2,000 texts of
   each set held out to report the cosine loss), reduced by PCA to 256
   dimensions and written over the package's table.

    apt-get install wordnet-base fortunes
    python scripts/train_static_table.py --site-packages .venv/lib/python3.11/site-packages \\
        --botocore /usr/lib/google-cloud-sdk/lib/third_party/botocore/data \\
        --wordnet /usr/share/wordnet --fortunes /usr/share/games/fortunes --work /tmp/static-table

Needs the `sentence-transformers` extra. On the 2-core VM under load: teacher
encoding took 35 minutes for 16,000 technical texts and 18 for 30,000 general
ones, fitting 11 minutes.
"""

from __future__ import annotations

import argparse
import ast
import glob
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


def wordnet_glosses(folder: Path):
    """'lemma, lemma: gloss' for every synset of WordNet 3.0's data files."""
    for part in ("noun", "verb", "adj", "adv"):
        for line in open(folder / f"data.{part}", encoding="latin-1"):
            if line.startswith("  ") or "|" not in line:  # the licence header
                continue
            head, gloss = line.split("|", 1)
            fields = head.split()
            lemmas = [re.sub(r"\(.*\)$", "", fields[4 + 2 * i]).replace("_", " ")
                      for i in range(int(fields[3], 16))]
            text = ", ".join(lemmas[:4]) + ": " + gloss.strip()
            if len(text.split()) >= 6:
                yield text


def fortune_cookies(folder: Path):
    for path in sorted(glob.glob(str(folder / "*"))):
        if "." in Path(path).name or Path(path).is_dir():  # .dat indexes, .u8 links
            continue
        for cookie in open(path, encoding="utf-8", errors="ignore").read().split("\n%\n"):
            if kept := _paragraph(cookie):
                yield " ".join(kept.split()[:KEPT_WORDS])


def collect_general(wordnet: Path | None, fortunes: Path | None, out: Path) -> None:
    texts = [*(wordnet_glosses(wordnet) if wordnet else ()), *(fortune_cookies(fortunes) if fortunes else ())]
    texts = sorted(set(texts))
    random.Random(0).shuffle(texts)
    out.write_text("".join(json.dumps(t) + "\n" for t in texts))
    print(f"{len(texts):,} general texts in {out}")


def teacher(sets: list[tuple[Path, int, Path]], work: Path) -> None:
    """MiniLM's vectors of each (texts file, count, targets file) set, and of every token alone."""
    from embedsearch.encoders import load_encoder
    from embedsearch.encoders.static_tokens import teacher_token_vectors

    tokens = work / "token_vectors.npy"
    if tokens.exists() and all(targets.exists() for _, _, targets in sets):
        return
    model = load_encoder("all-minilm-l6-v2").model
    if not tokens.exists():
        vocabulary = len(model[0].tokenizer.get_vocab())
        np.save(tokens, teacher_token_vectors(model, list(range(vocabulary))))
    for texts_file, count, targets in sets:
        if not targets.exists():
            texts = [json.loads(line) for line, _ in zip(open(texts_file), range(count))]
            vectors = model.encode(texts, batch_size=64, show_progress_bar=True, normalize_embeddings=True)
            np.save(targets, vectors.astype(np.float32))


def fit(sets: list[tuple[Path, int, Path]], work: Path, epochs: int, learning_rate: float) -> None:
    import torch

    from embedsearch.encoders.static_tokens import (BUILTIN_TABLE, distilled_rows,
                                                    load_static_minilm, reduced_table)
    from embedsearch.files import write_atomically
    from embedsearch.train.static_table import fit_table

    encoder = load_static_minilm()
    train_ids, train_targets, held_out = [], [], []
    for texts_file, count, targets_file in sets:
        token_ids = encoder.token_ids([json.loads(line) for line, _ in zip(open(texts_file), range(count))])
        targets = np.load(targets_file)
        train_ids += token_ids[:-HELD_OUT]
        train_targets.append(targets[:-HELD_OUT])
        held_out.append((texts_file.name, token_ids[-HELD_OUT:], targets[-HELD_OUT:]))
    vocabulary = encoder.tokenizer.get_vocab()
    special = [vocabulary[t] for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")]
    start = distilled_rows(np.load(work / "token_vectors.npy"), special)

    def loss(table, token_ids, targets):
        sums = np.stack([table[ids].sum(axis=0) for ids in token_ids])
        sums /= np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
        return float((1 - (sums * targets).sum(axis=1)).mean())

    torch.set_num_threads(2)
    fitted = fit_table(start, train_ids, np.concatenate(train_targets), special_ids=special, epochs=epochs,
                       learning_rate=learning_rate, show_progress=True)
    for name, token_ids, targets in held_out:
        print(f"held-out cosine loss on {name}: distilled {loss(start, token_ids, targets):.3f}, "
              f"fitted {loss(fitted, token_ids, targets):.3f}")
    table = reduced_table(fitted)
    write_atomically(BUILTIN_TABLE, lambda path: np.save(path, table, allow_pickle=False), suffix=".npy")
    print(f"wrote {BUILTIN_TABLE} {table.shape} {table.dtype}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site-packages", type=Path, required=True)
    parser.add_argument("--botocore", type=Path, help="botocore's data folder (optional)")
    parser.add_argument("--wordnet", type=Path, help="WordNet 3.0's dict folder (optional)")
    parser.add_argument("--fortunes", type=Path, help="the fortunes folder (optional)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/static-table"))
    parser.add_argument("--texts", type=int, default=16000)
    parser.add_argument("--general-texts", type=int, default=30000)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    texts_file = args.work / "texts.jsonl"
    if not texts_file.exists():
        collect(args.site_packages, args.botocore, texts_file)
    sets = [(texts_file, args.texts, args.work / f"teacher_{args.texts}.npy")]
    if args.wordnet or args.fortunes:
        general_file = args.work / "general.jsonl"
        if not general_file.exists():
            collect_general(args.wordnet, args.fortunes, general_file)
        sets.append((general_file, args.general_texts, args.work / f"general_teacher_{args.general_texts}.npy"))
    teacher(sets, args.work)
    fit(sets, args.work, args.epochs, args.learning_rate)


if __name__ == "__main__":
    main()
