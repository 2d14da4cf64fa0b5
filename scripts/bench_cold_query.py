"""Benchmark: a cold `embedsearch neighbors computer --index glove-6b-50d` against gensim from nothing.

Each round runs, as fresh processes and in alternating order, the CLI query and a gensim
process that loads the same 400,000 GloVe 6B 50d vectors and asks `most_similar` once. The
figure is the ratio of the two wall times within each round (median over rounds), so a
machine that slows down during the run slows both sides alike; the ratio of CPU times
(user + system) is printed beside it, steadier on a busy machine. Target (issue 24): below 0.25.

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
import resource
import shutil
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


def timed(command: list[str], env: dict) -> tuple[float, float, str]:
    """Wall time and CPU time (user + system) of a fresh process running `command`, and what
    it printed. On a busy machine the CPU time moves less than the wall time."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    # From a neutral folder: `python -m` puts the working directory ahead of PYTHONPATH.
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tempfile.gettempdir())
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{command[:4]} failed:\n{done.stderr[-2000:]}")
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return elapsed, cpu, done.stdout


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


def measure(args, baselines: list[str], workdir: Path) -> None:
    """Prepare the files, warm up, run the alternating rounds and print the figures."""
    home = args.home or workdir / "indexes"
    env = {**os.environ, "EMBEDSEARCH_HOME": str(home)}
    # Timed as an installed package runs: with its bytecode cached (the warm-up run writes it),
    # not compiled from source every time as under PYTHONDONTWRITEBYTECODE.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
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
        _, _, printed = timed(command, environments[name])
        if "computers" not in printed:
            raise SystemExit(f"{name} did not answer 'computers' first:\n{printed}")

    pairs = [f"{mine}/{name}" for mine in ours for name in baselines]
    times = {kind: {name: [] for name in commands} for kind in ("wall", "cpu")}
    ratios = {kind: {pair: [] for pair in pairs} for kind in ("wall", "cpu")}
    for round_number in range(args.rounds):
        order = list(commands) if round_number % 2 == 0 else list(reversed(commands))
        measured = {name: timed(commands[name], environments[name])[:2] for name in order}
        for kind, position in (("wall", 0), ("cpu", 1)):
            for name in commands:
                times[kind][name].append(measured[name][position])
            for pair in pairs:
                mine, name = pair.split("/")
                ratios[kind][pair].append(measured[mine][position] / measured[name][position])

    result = {"rounds": args.rounds, "load_average": os.getloadavg(),
              "median_s": {kind: {name: statistics.median(values) for name, values in by_name.items()}
                           for kind, by_name in times.items()},
              "ratio_median": {kind: {pair: statistics.median(values) for pair, values in by_pair.items()}
                               for kind, by_pair in ratios.items()},
              "ratio_range": {kind: {pair: [min(values), max(values)] for pair, values in by_pair.items()}
                              for kind, by_pair in ratios.items()}}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"cold `embedsearch neighbors {WORD} --index {INDEX}` against gensim, "
          f"{args.rounds} alternating rounds (load average at the end "
          f"{', '.join(f'{value:.1f}' for value in result['load_average'])})")
    print(f"  {'median seconds':20} {'wall':>7} {'cpu':>7}")
    for name in commands:
        print(f"  {name:20} {result['median_s']['wall'][name]:7.3f} {result['median_s']['cpu'][name]:7.3f}")
    print("  ratios, median over rounds (range)")
    for pair in pairs:
        shown = [f"{kind} {result['ratio_median'][kind][pair]:.2f} "
                 f"({result['ratio_range'][kind][pair][0]:.2f}-{result['ratio_range'][kind][pair][1]:.2f})"
                 for kind in ("wall", "cpu")]
        print(f"  {pair:32} {'   '.join(shown)}")


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
    try:
        measure(args, baselines, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
