"""Benchmark: a cold `embedsearch neighbors computer --index glove-6b-50d` against gensim from nothing.

Each round runs, as fresh processes and in alternating order, the CLI query and a gensim
process that loads the same 400,000 GloVe 6B 50d vectors and asks `most_similar` once. The
figure is the ratio of the two wall times within each round (median over rounds), so a
machine that slows down during the run slows both sides alike. Target (issue 24): below 0.25.

gensim baselines (`--baseline`, several allowed):
- `package`: what the GloVe package ships (a .npy of vectors, a parquet of words) read into
  `KeyedVectors`, as a gensim user of that package would;
- `word2vec`: `KeyedVectors.load_word2vec_format` on the same vectors as a word2vec binary
  file (written once, before the rounds);
- `native`: `KeyedVectors.load(mmap='r')` of gensim's own format (written once): the fastest
  way gensim has to open vectors.

    python scripts/bench_cold_query.py --rounds 10                 # builds the index in a temp home
    python scripts/bench_cold_query.py --home /tmp/home --rounds 10  # reuses home/glove-6b-50d
    python scripts/bench_cold_query.py --before /tmp/old-tree     # also times an older checkout
    python -X importtime -m embedsearch neighbors computer --index glove-6b-50d   # where it goes
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

INDEX = "glove-6b-50d"
WORD = "computer"
BASELINES = ("package", "word2vec", "native")


def gensim_code(baseline: str, files: dict[str, Path]) -> str:
    """A program that loads the vectors into gensim by `baseline` and prints the top neighbour."""
    load = {
        "package": ("import numpy as np, pyarrow.parquet as pq\n"
                    f"words = pq.read_table({str(files['words'])!r}).column(0).to_pylist()\n"
                    f"vectors = np.load({str(files['vectors'])!r})\n"
                    "kv = KeyedVectors(vectors.shape[1])\n"
                    "kv.add_vectors(words, vectors)\n"),
        "word2vec": f"kv = KeyedVectors.load_word2vec_format({str(files['word2vec'])!r}, binary=True)\n",
        "native": f"kv = KeyedVectors.load({str(files['native'])!r}, mmap='r')\n",
    }[baseline]
    return ("from gensim.models import KeyedVectors\n" + load
            + f"print(kv.most_similar({WORD!r}, topn=10)[0][0])\n")


def timed(command: list[str], env: dict) -> tuple[float, str]:
    """Wall time of a fresh process running `command`, and what it printed."""
    started = time.perf_counter()
    # From a neutral folder: `python -m` puts the working directory ahead of PYTHONPATH.
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tempfile.gettempdir())
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{command[:4]} failed:\n{done.stderr[-2000:]}")
    return elapsed, done.stdout


def prepare(home: Path, workdir: Path, baselines: list[str], env: dict) -> dict[str, Path]:
    """Build the index under `home` if absent; write the gensim files the baselines need."""
    if not (home / INDEX).exists():
        print(f"building {home / INDEX} ...", flush=True)
        subprocess.run([sys.executable, "-m", "embedsearch", "build", "--vectors", INDEX,
                        "--out", INDEX], check=True, env=env)
    from embedsearch.encoders.builtin import _glove_6b_50d_files

    vectors_path, words_path = _glove_6b_50d_files()
    files = {"vectors": vectors_path, "words": words_path,
             "word2vec": workdir / "glove.bin", "native": workdir / "glove.kv"}
    if {"word2vec", "native"} & set(baselines):
        import numpy as np
        from gensim.models import KeyedVectors

        from embedsearch.encoders.builtin import read_glove_6b_50d_words

        keyed = KeyedVectors(50)
        keyed.add_vectors(read_glove_6b_50d_words(words_path), np.load(vectors_path))
        keyed.save_word2vec_format(str(files["word2vec"]), binary=True)
        keyed.save(str(files["native"]))
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, help="an indexes home holding glove-6b-50d "
                        "(default: a temporary one, built first)")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--baseline", choices=BASELINES, action="append",
                        help="gensim loading to compare with (repeatable; default: all three)")
    parser.add_argument("--before", type=Path, help="a folder holding an older `embedsearch` "
                        "package: its CLI is timed in the same rounds (on PYTHONPATH)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    baselines = args.baseline or list(BASELINES)

    workdir = Path(tempfile.mkdtemp(prefix="bench-cold-"))
    home = args.home or workdir / "indexes"
    env = {**os.environ, "EMBEDSEARCH_HOME": str(home)}
    files = prepare(home, workdir, baselines, env)
    ours_command = [sys.executable, "-m", "embedsearch", "neighbors", WORD, "--index", INDEX]
    commands = {"embedsearch": ours_command,
                **{name: [sys.executable, "-c", gensim_code(name, files)] for name in baselines}}
    environments = {name: env for name in commands}
    ours = ["embedsearch"]
    if args.before:
        commands["embedsearch-before"] = ours_command
        environments["embedsearch-before"] = {**env, "PYTHONPATH": str(args.before.resolve())}
        ours.append("embedsearch-before")
    for name, command in commands.items():  # warm the page cache (and numba's, gensim's) once
        _, printed = timed(command, environments[name])
        if "computers" not in printed:
            raise SystemExit(f"{name} did not answer 'computers' first:\n{printed}")

    times: dict[str, list[float]] = {name: [] for name in commands}
    ratios: dict[str, list[float]] = {f"{mine}/{name}": [] for mine in ours for name in baselines}
    for round_number in range(args.rounds):
        order = list(commands) if round_number % 2 == 0 else list(reversed(commands))
        elapsed = {name: timed(commands[name], environments[name])[0] for name in order}
        for name, seconds in elapsed.items():
            times[name].append(seconds)
        for mine in ours:
            for name in baselines:
                ratios[f"{mine}/{name}"].append(elapsed[mine] / elapsed[name])

    result = {"rounds": args.rounds, "load_average": os.getloadavg(),
              "median_s": {name: statistics.median(values) for name, values in times.items()},
              "ratio_median": {name: statistics.median(values) for name, values in ratios.items()},
              "ratio_range": {name: [min(values), max(values)] for name, values in ratios.items()}}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"cold `embedsearch neighbors {WORD} --index {INDEX}` against gensim, "
          f"{args.rounds} alternating rounds (load average at the end "
          f"{', '.join(f'{value:.1f}' for value in result['load_average'])})")
    for name, seconds in result["median_s"].items():
        print(f"  {name:20} {seconds:7.3f} s median")
    for name, ratio in result["ratio_median"].items():
        low, high = result["ratio_range"][name]
        print(f"  ratio {name:32} {ratio:.2f} ({low:.2f}-{high:.2f})")


if __name__ == "__main__":
    main()
