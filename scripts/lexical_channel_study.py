"""The attention encoder's lexical channel alone, against exact TF-IDF, on the held-out tasks.

No training: the channel has no trained weights, only the buffers that
`lexical.fit_lexical_channel` sets from the training corpus (the Lee articles less
their held-out fifth, `heldout_tasks.write_split`). Each row is one way of
counting and hashing, scored on the whole held-out Lee articles (Pearson of
its cosines with all-MiniLM-L6-v2's over every pair: `Tasks.agreement`) and
on the graded newsgroup posts (Pearson with the grades), beside exact
scikit-learn TF-IDF over words and over the same case-folded GPT-2 tokens,
fitted on the same corpus: what the hashed bag approximates.

    python scripts/lexical_channel_study.py --workdir /tmp/lexical-study
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from heldout_tasks import Tasks, encoder_encode, write_split

VARIANTS = [("raw", 0.0), ("sublinear", 0.0), ("sublinear", 0.25), ("sublinear", 0.5),
            ("sublinear", 0.75)]


def lexical_encode(tokenizer, documents: list[str], tf: str, reserved: float, dim: int):
    """texts -> the lexical channel's unit rows, for an untrained model folded on `documents`."""
    import torch

    from embedsearch.encoders.attention_model import AttentionModel
    from embedsearch.encoders.configs import AttentionConfig
    from embedsearch.encoders.lexical import fit_lexical_channel
    from embedsearch.train.contrastive import padded_batch

    model = AttentionModel(AttentionConfig(vocab_size=tokenizer.vocab_size, lexical_dim=dim,
                                           lexical_tf=tf, lexical_reserved=reserved)).eval()
    fit_lexical_channel(model, tokenizer, documents)

    def encode(texts):
        lists = tokenizer.encode_batch_marking_unseen(list(texts))
        with torch.inference_mode():
            return np.vstack([model.lexical(padded_batch(lists[start:start + 32], 1 << 16)).numpy()
                              for start in range(0, len(lists), 32)])
    return encode


def main(argv=None) -> int:
    from sklearn.feature_extraction.text import TfidfVectorizer

    from embedsearch.encoders import load_encoder
    from embedsearch.encoders.tokenizers import FIRST_TOKEN_ID, fit_tokenizer
    from embedsearch.evaluate.graded import graded_correlation, nested_grades

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--lexical-dim", type=int, default=2048)
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    train_path = write_split(args.workdir)
    tasks = Tasks.load(args.workdir)
    documents = train_path.read_text(encoding="utf-8").splitlines()
    reference = encoder_encode(load_encoder("all-minilm-l6-v2"))(tasks.lee_articles)
    posts = [post.text for post in tasks.posts]
    grades = nested_grades([post.group for post in tasks.posts], [post.thread for post in tasks.posts])

    def row(name: str, encode) -> None:
        vectors = encode(posts)
        vectors = vectors.toarray() if hasattr(vectors, "toarray") else vectors
        news = graded_correlation(np.asarray(vectors), grades)["pearson"]
        print(f"| {name} | {tasks.agreement(encode, reference):.3f} | {news:.3f} |", flush=True)

    print("| lexical channel | agreement with MiniLM, Lee articles | newsgroups graded Pearson |")
    print("|---|---:|---:|")
    words = TfidfVectorizer(sublinear_tf=True).fit(documents)
    row("exact TF-IDF, words, sublinear tf", lambda texts: words.transform(list(texts)))
    tokenizer = fit_tokenizer("gpt2", documents)  # the compact GPT-2 BPE training fits
    strings = [token.strip().lower() for token in tokenizer.token_strings()]

    def tokens_of(text: str) -> list[str]:
        return [strings[i - FIRST_TOKEN_ID] if i >= FIRST_TOKEN_ID else f"unseen:{-1 - i}"
                for i in tokenizer.encode_batch_marking_unseen([text])[0]]

    for sublinear in (False, True):
        exact = TfidfVectorizer(analyzer=tokens_of, sublinear_tf=sublinear).fit(documents)
        row(f"exact TF-IDF, case-folded GPT-2 tokens, {'sublinear' if sublinear else 'raw'} tf",
            lambda texts: exact.transform(list(texts)))
    for tf, reserved in VARIANTS:
        encode = lexical_encode(tokenizer, documents, tf, reserved, args.lexical_dim)
        row(f"hashed into {args.lexical_dim}, {tf} tf, reserved {reserved}", encode)
    return 0


if __name__ == "__main__":
    sys.exit(main())
