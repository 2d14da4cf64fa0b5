"""Held-out tasks for choosing text-encoder defaults, built from corpora that ship offline.

An encoder is trained the way a user trains one, on a ~240-document news
corpus (the Lee background corpus less a seeded fifth of its articles,
`write_split`), then scored on three tasks it never saw:

- `lee-retrieval`: document retrieval on held-out chunks, in the domain of
  the training corpus: the chunks of the held-out fifth of the Lee articles
  (`embedsearch.evaluate.retrieval`); a chunk should find the other chunks of
  its article. recall@10 and MRR.
- `newsgroup-graded`: graded similarity of whole documents, another domain
  and another split: the 200 Usenet posts of gensim's `mini_newsgroup`
  (alt.atheism and sci.space), graded 2 for two posts of the same thread
  (same subject once "Re:" is dropped), 1 for the same newsgroup, 0 otherwise
  (`embedsearch.evaluate.graded`). Headers, quoted lines and attribution
  lines are removed, so a reply does not simply repeat its parent. Pearson
  and Spearman of the pairs' cosines with the grades.
- `wiki-retrieval`: chunk retrieval again, out of domain: the prose of the
  articles of gensim's shortened English Wikipedia dump.

A distilled student is also scored on `lee-agreement`: the Pearson
correlation of its cosines with its teacher's over every pair of the 60
whole held-out Lee articles (`Tasks.agreement`), i.e. how much of the
teacher's judgement of whole news articles it carries to articles it never
saw. It measures fidelity to the teacher, not quality: no human rating is
involved.

Lee's human-rated document pairs (`lee.cor` and its similarity matrix) are
deliberately not used: they are a benchmark kept apart, not tuning data.

The newsgroup file is a pickled scikit-learn Bunch; it is never unpickled:
the posts are read from the pickle's string opcodes (`pickletools`), so no
code from the file can run.
"""

from __future__ import annotations

import json
import pickletools
import re
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import gensim

from embedsearch.corpus import chunk_text
from embedsearch.evaluate.graded import graded_correlation, nested_grades
from embedsearch.evaluate.retrieval import (HELDOUT_FILE, TRAIN_FILE, evaluate_matrix,
                                            spaced_chunks, write_retrieval_split)

TEST_DATA = Path(gensim.__file__).parent / "test" / "test_data"
LEE_BACKGROUND = TEST_DATA / "lee_background.cor"
NEWSGROUPS = TEST_DATA / "mini_newsgroup"
GROUPS = ("alt.atheism", "sci.space")
MIN_POST_WORDS = 20
_REPLY = re.compile(r"^(re|fwd?)\s*:\s*", re.IGNORECASE)
_ATTRIBUTION = re.compile(r"(writes|wrote|says)\s*:\s*$", re.IGNORECASE)

Encode = Callable[[Sequence[str]], object]  # texts -> unit rows (dense array or scipy sparse)


@dataclass
class Post:
    text: str
    group: str
    thread: str


def newsgroup_posts(path: Path = NEWSGROUPS) -> list[Post]:
    """The posts of `mini_newsgroup`, bodies only, with their newsgroup and thread."""
    raw = zlib.decompress(path.read_bytes())
    posts = []
    for opcode, argument, _ in pickletools.genops(raw):
        if opcode.name not in ("UNICODE", "BINUNICODE") or "\n\n" not in argument:
            continue
        header, body = argument.split("\n\n", 1)
        fields = dict(re.findall(r"^([A-Za-z-]+): (.*)$", header, re.MULTILINE))
        groups = [g.strip() for g in fields.get("Newsgroups", "").split(",")]
        group = next((g for g in groups if g in GROUPS), None)
        lines = [line for line in body.splitlines()
                 if not line.lstrip().startswith((">", "|", ":")) and not _ATTRIBUTION.search(line)]
        text = " ".join(" ".join(lines).split())
        if group is None or len(text.split()) < MIN_POST_WORDS:
            continue
        subject = fields.get("Subject", "")
        while _REPLY.match(subject):
            subject = _REPLY.sub("", subject, count=1)
        posts.append(Post(text, group, f"{group}/{' '.join(subject.lower().split())}"))
    return posts


def write_split(workdir: Path, seed: int = 0) -> Path:
    """train.txt (the training corpus) and heldout.jsonl (chunks of the held-out articles)."""
    articles = [(f"lee:{number}", line) for number, line in
                enumerate(LEE_BACKGROUND.read_text(encoding="utf-8").splitlines()) if line.strip()]
    write_retrieval_split(articles, workdir, heldout_fraction=0.2, seed=seed)
    return workdir / TRAIN_FILE


@dataclass
class Tasks:
    """The texts and labels of the three tasks."""

    lee_chunks: list[str]
    lee_documents: list[str]
    posts: list[Post]
    wiki_chunks: list[str]
    wiki_documents: list[str]
    lee_articles: list[str]  # the whole held-out articles

    @classmethod
    def load(cls, workdir: Path) -> "Tasks":
        from eval_retrieval_table import wiki_documents

        heldout = [json.loads(line) for line in open(workdir / HELDOUT_FILE, encoding="utf-8")]
        wiki_chunks, wiki_labels = [], []
        for title, text in wiki_documents():
            for chunk in spaced_chunks(chunk_text(text)):
                wiki_chunks.append(chunk)
                wiki_labels.append(title)
        training = set(open(workdir / TRAIN_FILE, encoding="utf-8").read().splitlines())
        articles = [line for line in LEE_BACKGROUND.read_text(encoding="utf-8").splitlines()
                    if line.strip() and line not in training]
        return cls([r["text"] for r in heldout], [r["doc"] for r in heldout], newsgroup_posts(),
                   wiki_chunks, wiki_labels, articles)

    def speed_texts(self) -> list[str]:
        """What encoding speed is timed on: the Lee chunks and the whole posts."""
        return self.lee_chunks + [post.text for post in self.posts]

    def evaluate(self, encode: Encode) -> dict:
        """Every task's figures for one encoder, and its encoding speed (texts/s)."""
        started = time.perf_counter()
        lee = evaluate_matrix(encode(self.lee_chunks), self.lee_documents)
        post_vectors = encode([post.text for post in self.posts])
        seconds = time.perf_counter() - started
        graded = graded_correlation(post_vectors,
                                    nested_grades([p.group for p in self.posts],
                                                  [p.thread for p in self.posts]))
        wiki = evaluate_matrix(encode(self.wiki_chunks), self.wiki_documents)
        return {"lee_recall@10": round(lee.recall_at_k, 4), "lee_mrr": round(lee.mrr, 4),
                "news_pearson": round(graded["pearson"], 4),
                "news_spearman": round(graded["spearman"], 4),
                "wiki_recall@10": round(wiki.recall_at_k, 4), "wiki_mrr": round(wiki.mrr, 4),
                "texts_per_second": round(len(self.speed_texts()) / seconds, 1)}

    def agreement(self, encode: Encode, reference) -> float:
        """Pearson of `encode`'s cosines with `reference`'s (unit rows of `lee_articles`) over all pairs."""
        import numpy as np

        from embedsearch.train.distill import pool_agreement

        vectors = encode(self.lee_articles)
        vectors = vectors.toarray() if hasattr(vectors, "toarray") else np.asarray(vectors)
        return round(pool_agreement(vectors, reference), 4)


def tfidf_encode(train_path: Path) -> Encode:
    """TF-IDF (scikit-learn, sublinear tf) fitted on the training corpus' documents."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    documents = open(train_path, encoding="utf-8").read().splitlines()
    vectorizer = TfidfVectorizer(sublinear_tf=True).fit(documents)
    return lambda texts: vectorizer.transform(list(texts))


def encoder_encode(encoder) -> Encode:
    """An embedsearch encoder's vectors (texts it cannot encode stay zero rows)."""
    return lambda texts: encoder.encode_batch(list(texts))[0]
