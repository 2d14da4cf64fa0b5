"""Every text encoder on the held-out tasks, with its encoding speed, in one run on this machine.

Rows: TF-IDF (scikit-learn, fitted on the training corpus), averaged GloVe
6B 50d (built-in), averaged word2vec and the token+position embedder
(trained on the training corpus; token+position with the compact GPT-2 BPE
and with its own trained BPE), the attention encoder (its defaults and the
previous version's, `-before`, each with three seeds; its own BPE; distilled
from all-MiniLM-L6-v2) and all-MiniLM-L6-v2 itself.
Every trained row learns from the same ~240 Lee articles
(`heldout_tasks.write_split`) and is scored on the three held-out tasks of
`heldout_tasks.py` (Lee chunk retrieval, newsgroup graded similarity,
Wikipedia chunk retrieval), and on its agreement with MiniLM over the whole
held-out Lee articles (`Tasks.agreement`: fidelity to the teacher, no human
rating involved).

Speed is texts encoded per second over the held-out Lee chunks and the
whole newsgroup posts (what the first two tasks encode), torch on
`--threads` cores; MiniLM is timed in the same run, so the ratio holds on a
loaded machine even when the absolute figures do not.

    python scripts/bench_encoders.py --workdir /tmp/bench-encoders
    python scripts/bench_encoders.py --workdir /tmp/bench-encoders --only tfidf,minilm --json

Trained encoders are kept in the work directory and reused; delete one to retrain.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from choose_attention_defaults import train_variant
from heldout_tasks import Tasks, encoder_encode, tfidf_encode, write_split

TEACHER = "all-minilm-l6-v2"
# "-before": the defaults of the previous version (with no teacher, four passes at temperature
# 0.05), trained and timed in the same run. Seeds 2 and 3 show how much of a difference the
# draw of pairs and initial weights makes.
BEFORE = {"epochs": 4, "temperature": 0.05}
ATTENTION = {"attention": {}, "attention-seed2": {"seed": 2}, "attention-seed3": {"seed": 3},
             "attention-before": BEFORE, "attention-before-seed2": {**BEFORE, "seed": 2},
             "attention-before-seed3": {**BEFORE, "seed": 3},
             "attention-bpe": {"tokenizer": "bpe"},
             "attention-distilled": {"teacher": TEACHER}}
ROWS = ("tfidf", "glove", "word2vec", "token-position", "token-position-bpe", *ATTENTION, "minilm")


def trained(row: str, workdir: Path, train_path: Path) -> tuple[str | Path, float | None]:
    """(encoder spec, training wall seconds) of a row, training it first if needed."""
    if row in ATTENTION:
        return train_variant(workdir, train_path, row, ATTENTION[row])
    if row in ("glove", "minilm"):
        return {"glove": "glove-6b-50d", "minilm": TEACHER}[row], None
    out = workdir / "encoders" / row
    timing = out / "wall_seconds.json"
    if not timing.exists():
        started = time.perf_counter()
        if row == "word2vec":
            from embedsearch.train.word2vec import Word2VecTraining, train_word2vec

            train_word2vec(train_path, out, Word2VecTraining(min_count=2, epochs=10),
                           show_progress=False)
        else:
            from embedsearch.encoders.configs import TokenPositionConfig
            from embedsearch.train.token_position import TokenPositionTraining, train_token_position

            model = TokenPositionConfig(tokenizer="bpe" if row.endswith("-bpe") else "gpt2", hidden=64)
            train_token_position(train_path, out, TokenPositionTraining(
                model=model, epochs=1, min_count=2), show_progress=False)
        timing.write_text(json.dumps(round(time.perf_counter() - started, 1)))
    return out, json.loads(timing.read_text())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--only", default=",".join(ROWS), help=f"rows among {', '.join(ROWS)}")
    parser.add_argument("--threads", type=int, default=2, help="cores (torch threads)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    rows = [row.strip() for row in args.only.split(",") if row.strip()]
    if unknown := set(rows) - set(ROWS):
        parser.error(f"unknown rows: {', '.join(sorted(unknown))}")
    os.sched_setaffinity(0, range(min(args.threads, os.cpu_count() or 1)))  # what "cores" means
    from embedsearch.encoders import load_encoder

    args.workdir.mkdir(parents=True, exist_ok=True)
    train_path = write_split(args.workdir)
    tasks = Tasks.load(args.workdir)
    reference = encoder_encode(load_encoder(TEACHER))(tasks.lee_articles)  # for lee_agreement
    results = {}
    for row in rows:
        if row == "tfidf":
            encode, seconds = tfidf_encode(train_path), None
        else:
            spec, seconds = trained(row, args.workdir, train_path)
            encoder = load_encoder(spec)
            encoder.encode_batch(tasks.lee_chunks[:64])  # warm-up: lazy loads, thread pools
            encode = encoder_encode(encoder)
        results[row] = {"train_seconds": seconds, **tasks.evaluate(encode),
                        "lee_agreement": tasks.agreement(encode, reference)}
        print(f"{row}: {json.dumps(results[row])}", file=sys.stderr)
    load = os.getloadavg()
    if args.json:
        print(json.dumps({"threads": args.threads, "load_average": load, "results": results},
                         indent=2))
        return 0
    minilm = results.get("minilm", {}).get("texts_per_second")
    print(f"{args.threads} cores; load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at the end")
    print("| encoder | Lee retrieval recall@10 / MRR | newsgroups graded Pearson / Spearman "
          "| Wikipedia retrieval recall@10 / MRR | agreement with MiniLM, Lee articles "
          "| texts/s | x MiniLM | training s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for row, figures in results.items():
        speed = figures["texts_per_second"]
        ratio = f"{speed / minilm:.1f}" if minilm else "-"
        seconds = "-" if figures["train_seconds"] is None else f"{figures['train_seconds']:.0f}"
        print(f"| {row} | {figures['lee_recall@10']:.3f} / {figures['lee_mrr']:.3f} "
              f"| {figures['news_pearson']:.3f} / {figures['news_spearman']:.3f} "
              f"| {figures['wiki_recall@10']:.3f} / {figures['wiki_mrr']:.3f} "
              f"| {figures['lee_agreement']:.3f} "
              f"| {speed:,.0f} | {ratio} | {seconds} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
