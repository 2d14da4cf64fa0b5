"""The retrieval comparison table: every encoder on the same split of the same corpus.

Documents (by default the real English text that ships offline with gensim's
test data: the articles of the shortened English Wikipedia dump and the Lee
news corpus, one article per line) are split once, with a seed, into a
training part and a held-out part (see `embedsearch.evaluate.retrieval`).
Every encoder is trained on the training part only (TF-IDF's vocabulary and
IDF included), an index is built from the held-out chunks with it, and
`evaluate_index` reports recall@10 and MRR, queries being each held-out
chunk, relevant items the other chunks of its document.

Rows: the attention encoder (`embedsearch train attention` with its
defaults), then each of its two channels alone (the same trained encoder
with its lexical share set to 0: the transformer only, and to 1: the hashed
bag of tokens only), the token+position embedder (one epoch of its README recipe),
averaged word2vec trained on the training part, averaged GloVe 6B 50d
(built-in) and TF-IDF (scikit-learn, the `bench` extra).

    python scripts/eval_retrieval_table.py --workdir /tmp/retrieval
    python scripts/eval_retrieval_table.py --workdir /tmp/retrieval --only tfidf,glove

Encoders already trained in the work directory are reused (delete them to
retrain); the training time of each is printed as measured when it ran.
"""

from __future__ import annotations

import argparse
import bz2
import importlib.util
import json
import re
import sys
import time
from pathlib import Path

import gensim

from embedsearch.indexing.build import build_corpus_index
from embedsearch.corpus import read_corpus
from embedsearch.evaluate.retrieval import (HELDOUT_FILE, TRAIN_FILE, evaluate_index,
                                            evaluate_matrix, write_retrieval_split)

TEST_DATA = Path(gensim.__file__).parent / "test" / "test_data"
WIKI_DUMP = TEST_DATA / "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
LEE_CORPUS = TEST_DATA / "lee_background.cor"
ROWS = ("attention", "attention-transformer", "attention-lexical", "token-position", "word2vec",
        "glove", "tfidf")
# Rows that are the trained attention encoder with its lexical share fixed.
CHANNELS = {"attention-transformer": 0.0, "attention-lexical": 1.0}
# Sections after which an article holds lists of references, not prose.
_TAIL_SECTION = re.compile(r"^=+\s*(references|see also|external links|further reading|notes|"
                           r"bibliography|sources|footnotes)\s*=+\s*$", re.IGNORECASE)
MIN_PARAGRAPH_WORDS = 8
MIN_DOCUMENT_WORDS = 150


def wiki_documents(path: Path = WIKI_DUMP):
    """(title, prose) of each article: markup filtered by gensim, lists and headings dropped."""
    from gensim.corpora.wikicorpus import extract_pages, filter_wiki

    with bz2.open(path) as dump:
        for title, markup, _page_id in extract_pages(dump):
            paragraphs = []
            for line in filter_wiki(markup).splitlines():
                line = line.strip()
                if _TAIL_SECTION.match(line):
                    break
                if line[:1] in "=*|{!#:;" or len(line.split()) < MIN_PARAGRAPH_WORDS:
                    continue
                paragraphs.append(re.sub(r"'{2,}", "", line))
            text = " ".join(paragraphs)
            if len(text.split()) >= MIN_DOCUMENT_WORDS:
                yield f"wiki:{title}", text


def lee_documents(path: Path = LEE_CORPUS):
    """(id, text) of each Lee news article (one per line)."""
    for item in read_corpus(path):
        yield f"lee:{item.position}", item.text


def prepare(workdir: Path, seed: int) -> dict:
    documents = list(wiki_documents()) + list(lee_documents())
    report = write_retrieval_split(documents, workdir, seed=seed)
    words = sum(len(line.split()) for line in open(report.train_path, encoding="utf-8"))
    return {"train_documents": report.train_documents, "train_words": words,
            "heldout_documents": report.heldout_documents, "heldout_chunks": report.heldout_chunks}


def tfidf_row(workdir: Path) -> dict:
    """TF-IDF fitted on the training part's chunks, searched exactly (sparse cosine)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    from embedsearch.corpus import chunk_text

    train_chunks = [chunk for line in open(workdir / TRAIN_FILE, encoding="utf-8")
                    for chunk in chunk_text(line)]
    heldout = [json.loads(line) for line in open(workdir / HELDOUT_FILE, encoding="utf-8")]
    started = time.perf_counter()
    vectorizer = TfidfVectorizer(sublinear_tf=True).fit(train_chunks)
    seconds = round(time.perf_counter() - started, 1)
    vectors = vectorizer.transform([record["text"] for record in heldout])
    result = evaluate_matrix(vectors, [record["doc"] for record in heldout])
    return {"train_seconds": seconds, "train_cpu_seconds": None, **result.to_dict()}


def trained_encoder(kind: str, workdir: Path) -> tuple[Path | str, dict]:
    """Train (or reuse) the encoder of a row on the training part; (spec, wall and CPU seconds)."""
    if kind == "glove":
        return "glove-6b-50d", {"train_seconds": None, "train_cpu_seconds": None}
    out = workdir / "encoders" / kind
    timing = out / "train_seconds.json"
    if timing.exists():
        return out, json.loads(timing.read_text())
    started, cpu_started = time.perf_counter(), time.process_time()
    corpus = workdir / TRAIN_FILE
    if kind == "word2vec":
        from embedsearch.train.word2vec import Word2VecTraining, train_word2vec

        train_word2vec(corpus, out, Word2VecTraining(min_count=2, epochs=10), show_progress=False)
    elif kind == "attention":
        from embedsearch.train.attention import AttentionTraining, train_attention

        train_attention(corpus, out, AttentionTraining(), show_progress=False)
    elif kind == "token-position":
        from embedsearch.encoders.configs import TokenPositionConfig
        from embedsearch.train.token_position import TokenPositionTraining, train_token_position

        # The token+position README's recipe (hidden 64, min count 2), one epoch: its
        # retrieval does not improve with longer training on a corpus this small.
        train_token_position(corpus, out, TokenPositionTraining(TokenPositionConfig(hidden=64), epochs=1, min_count=2),
                             show_progress=False)
    seconds = {"train_seconds": round(time.perf_counter() - started, 1),
               "train_cpu_seconds": round(time.process_time() - cpu_started, 1)}
    timing.write_text(json.dumps(seconds) + "\n")
    return out, seconds


def encoder_row(kind: str, workdir: Path) -> dict:
    from embedsearch.encoders import load_encoder

    spec, timing = trained_encoder("attention" if kind in CHANNELS else kind, workdir)
    encoder = load_encoder(spec)
    if kind in CHANNELS:
        encoder.set_lexical_share(CHANNELS[kind])
    index_path = workdir / "indexes" / kind
    build_corpus_index(workdir / HELDOUT_FILE, encoder, index_path, key_field="key",
                       overwrite=True, show_progress=False)
    result = evaluate_index(index_path, show_progress=False)
    return {**timing, **result.to_dict()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", default=",".join(ROWS),
                        help=f"comma-separated rows among {', '.join(ROWS)}")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    rows = [row.strip() for row in args.only.split(",") if row.strip()]
    if unknown := set(rows) - set(ROWS):
        parser.error(f"unknown rows: {', '.join(sorted(unknown))}")
    if "token-position" in rows and importlib.util.find_spec("embedsearch.train.token_position") is None:
        print("token-position: trainer not installed; row skipped", file=sys.stderr)
        rows.remove("token-position")
    split = prepare(args.workdir, args.seed)
    print(f"split: {json.dumps(split)}", file=sys.stderr)
    results = {}
    for row in rows:
        results[row] = tfidf_row(args.workdir) if row == "tfidf" else encoder_row(row, args.workdir)
        print(f"{row}: {json.dumps(results[row])}", file=sys.stderr)
    if args.json:
        print(json.dumps({"split": split, "results": results}, indent=2))
        return 0
    print("| encoder | recall@10 | MRR | training wall / CPU time |")
    print("|---|---:|---:|---:|")
    for row, result in results.items():
        wall, cpu = result["train_seconds"], result["train_cpu_seconds"]
        timing = "-" if wall is None else f"{wall:.0f} s" + ("" if cpu is None else f" / {cpu:.0f} s")
        print(f"| {row} | {result['recall@10']:.3f} | {result['mrr']:.3f} | {timing} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
