"""Each candidate default of `train attention`, scored on the held-out tasks of `heldout_tasks.py`.

Every variant is trained on the same ~240-article training corpus (the Lee
background corpus less its held-out fifth) and scored on the three held-out
tasks; the TF-IDF baseline (fitted on the same corpus) is the first row.
Variants are AttentionTraining fields changed from the defaults, e.g.

    python scripts/choose_attention_defaults.py --workdir /tmp/defaults \
        --variant defaults= --variant bpe=tokenizer:bpe \
        --variant share0=lexical_share:0 --variant teacher=teacher:all-minilm-l6-v2

(a value is read as JSON when it parses, else kept as a string; `model.dim:256` sets a
model size); `--split-seed N` holds out another fifth of the articles. Trained
encoders are kept in the work directory and reused; delete one to retrain.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import fields
from pathlib import Path

from heldout_tasks import Tasks, encoder_encode, tfidf_encode, write_split


def parse_variant(text: str) -> tuple[str, dict]:
    """NAME=field:value,... -> (NAME, AttentionTraining keyword arguments); `model.F` sets the model's F."""
    from embedsearch.encoders.configs import AttentionConfig
    from embedsearch.train.attention import AttentionTraining

    name, _, changes = text.partition("=")
    known = {field.name for field in fields(AttentionTraining)}
    known_model = {field.name for field in fields(AttentionConfig)}
    overrides, model = {}, {}
    for change in filter(None, changes.split(",")):
        key, _, value = change.partition(":")
        target, key = (model, key[len("model."):]) if key.startswith("model.") else (overrides, key)
        if key not in (known_model if target is model else known):
            raise SystemExit(f"unknown {'AttentionConfig' if target is model else 'AttentionTraining'} "
                             f"field {key!r}")
        try:
            target[key] = json.loads(value)
        except json.JSONDecodeError:
            target[key] = value
    if model:
        overrides["model"] = AttentionConfig(**model)
    return name, overrides


def train_variant(workdir: Path, train_path: Path, name: str, overrides: dict) -> tuple[Path, float]:
    from embedsearch.train.attention import AttentionTraining, train_attention

    out = workdir / "encoders" / name
    timing = out / "wall_seconds.json"
    if not timing.exists():
        started = time.perf_counter()
        train_attention(train_path, out, AttentionTraining(**overrides), show_progress=False)
        timing.write_text(json.dumps(round(time.perf_counter() - started, 1)))
    return out, json.loads(timing.read_text())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--variant", action="append", default=[], help="NAME=field:value,...")
    parser.add_argument("--channels", action="store_true",
                        help="also score each variant's transformer and lexical channels alone")
    parser.add_argument("--split-seed", type=int, default=0,
                        help="seed of the held-out fifth of the Lee articles (heldout_tasks.write_split)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--teacher", default="all-minilm-l6-v2",
                        help="every row's lee_agreement is with this encoder ('' for none)")
    args = parser.parse_args(argv)
    os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:args.threads])  # taskset picks which
    from embedsearch.encoders import load_encoder

    args.workdir.mkdir(parents=True, exist_ok=True)
    train_path = write_split(args.workdir, seed=args.split_seed)
    tasks = Tasks.load(args.workdir)
    reference = (encoder_encode(load_encoder(args.teacher))(tasks.lee_articles) if args.teacher
                 else None)

    def scores(encode) -> dict:
        agreement = {} if reference is None else {"lee_agreement": tasks.agreement(encode, reference)}
        return {**tasks.evaluate(encode), **agreement}

    rows = {"tfidf": scores(tfidf_encode(train_path))}
    print(f"tfidf: {json.dumps(rows['tfidf'])}", file=sys.stderr)
    for text in args.variant:
        name, overrides = parse_variant(text)
        directory, seconds = train_variant(args.workdir, train_path, name, overrides)
        encoder = load_encoder(directory)
        shares = [("", None)]
        if args.channels and encoder.config.lexical_dim:
            shares += [(" transformer", 0.0), (" lexical", 1.0)]
        chosen = encoder.config.lexical_share
        for suffix, share in shares:
            encoder.set_lexical_share(chosen if share is None else share)
            rows[name + suffix] = {"train_seconds": seconds, "share": encoder.config.lexical_share,
                                   **scores(encoder_encode(encoder))}
            print(f"{name + suffix}: {json.dumps(rows[name + suffix])}", file=sys.stderr)
    print(json.dumps({"load_average": os.getloadavg(), "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
