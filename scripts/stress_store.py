"""Stress the store's promises: kill -9 during writes, readers during writes, damaged files.

Three experiments on a synthetic index (random unit vectors, keys item0...):

1. kill -9 at a random moment during each write (a full rebuild with
   overwrite, add, reindex to another index type, delete), in child processes.
   After each kill the index must open, its count must equal the SQLite rows,
   the FAISS ids (less tombstones) and the full-text index's entries (which
   must also pass FTS5's integrity check against the rows), a fixed query must answer exactly as
   before the write or exactly as after it (the write run to completion on a
   copy), no item may be lost, and the next writer must succeed and leave no
   temporary folder behind.
2. One writer adding and deleting a batch of items in a loop while four reader
   processes open the index and ask the fixed query: reader errors, wrong
   answers, and versions that are neither state (half written). Then a reader
   holding an old version open while two more versions are committed.
3. Each file of a version truncated, or garbled (at its start or middle), in
   turn: opening and querying it in a child process must give one
   IndexCorruptError, never a crash, a hang or a silently wrong answer.

    .venv/bin/python scripts/stress_store.py                  # the full run (several minutes)
    .venv/bin/python scripts/stress_store.py --short --json   # what tests/test_stress_store.py runs
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DIM = 32
SHORT = os.environ.get("STRESS_STORE_SHORT") == "1"  # set by --short for the children too
BASE_ITEMS = 1_000 if SHORT else 50_000
BATCH = 100 if SHORT else 5_000  # items added or deleted by one write
K = 10
ENCODER = {"name": "stress", "kind": "test", "spec": "stress", "fingerprint": "0"}


# -- the data and the writes (run in child processes) ---------------------------------

def vectors_for(start: int, count: int, generation: int = 0) -> np.ndarray:
    from embedsearch.vectors import normalize_rows

    rng = np.random.default_rng([generation, start, count])
    return normalize_rows(rng.standard_normal((count, DIM)).astype(np.float32))


def items_for(start: int, count: int, prefix: str = "item"):
    from embedsearch.corpus import Item

    return [Item(key=f"{prefix}{i}", text=f"text {i}", source="stress", position=i)
            for i in range(start, start + count)]


def query_vector() -> np.ndarray:
    return vectors_for(10**9, 1)


def build(path: Path, generation: int, items: int = BASE_ITEMS) -> None:
    from embedsearch.index import EncoderInfo, IndexWriter

    with IndexWriter.create(path, EncoderInfo(**ENCODER), DIM, overwrite=True) as writer:
        writer.add(items_for(0, items), vectors_for(0, items, generation))


def write(operation: str, path: Path) -> None:
    """One write of the kind `operation`, deterministic given the index's state."""
    from embedsearch.index import Index, IndexWriter

    if operation == "build":  # the pristine index is generation 0 with BASE_ITEMS items
        build(path, 1, BASE_ITEMS + BATCH)
    elif operation == "add":
        with IndexWriter.update(path) as writer:
            start = writer.manifest.rows
            writer.add(items_for(start, BATCH, "added"), vectors_for(start, BATCH, 7))
    elif operation == "reindex":
        with Index.open(path) as index:
            target = "hnsw" if index.manifest.index_type == "flat" else "flat"
        with IndexWriter.reindex(path, index_type=target):
            pass
    elif operation == "delete":
        with IndexWriter.update(path) as writer:
            writer.delete(keys=[f"item{i}" for i in range(0, 2 * BATCH, 2)])
    else:
        raise SystemExit(f"unknown operation {operation}")


def answer(index) -> list[list]:
    """The fixed query's (key, score) hits (ids are not compared: a re-added item gets a new one)."""
    return [[hit.key, round(hit.score, 5)] for hit in index.search(query_vector(), K)[0]]


def state_of(path: Path) -> dict:
    """What a reader sees: count, the four counts that must agree (the manifest's, SQLite's
    rows, FAISS's ids, the full-text index's matches of a word every text holds), whether
    the full-text index passes FTS5's own check against the rows, the fixed query's answer."""
    import sqlite3

    from embedsearch.index import Index
    from embedsearch.index.fulltext import check_fulltext

    with Index.open(path) as index:
        copy = sqlite3.connect(":memory:")
        index.items.connection.backup(copy)
        try:
            check_fulltext(copy)
            exact = True
        except sqlite3.DatabaseError:
            exact = False
        matches = copy.execute("SELECT count(*) FROM items_fts WHERE items_fts MATCH 'text'")
        return {"count": index.count, "sqlite": index.items.count(),
                "faiss": int(index.faiss.ntotal) - index.manifest.tombstones,
                "fulltext": matches.fetchone()[0], "fulltext_exact": exact,
                "answer": answer(index)}


def child(arguments: list[str]) -> None:
    """Entry point of the child processes: `--child write OP PATH`, `--child open PATH`, ..."""
    import faiss

    faiss.omp_set_num_threads(1)  # HNSW builds the same graph every time on one thread
    kind = arguments[0]
    if kind == "write":
        print("ready", flush=True)
        started = time.perf_counter()
        write(arguments[1], Path(arguments[2]))
        print(json.dumps({"seconds": time.perf_counter() - started}), flush=True)
    elif kind == "open":  # one line per index, as each is done (a crash ends the list early)
        from embedsearch.errors import EmbedsearchError

        for path in arguments[1:]:
            try:
                print(json.dumps({"state": state_of(Path(path))}), flush=True)
            except EmbedsearchError as error:
                print(json.dumps({"error": type(error).__name__, "message": str(error)}), flush=True)
    elif kind == "read":
        read_loop(Path(arguments[1]), float(arguments[2]), json.loads(arguments[3]))
    elif kind == "churn":
        churn(Path(arguments[1]), float(arguments[2]))


def run_child(*arguments: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, __file__, "--child", *arguments], capture_output=True,
                          text=True, timeout=timeout)


# -- 1. kill -9 during writes ---------------------------------------------------------

def kill_trials(root: Path, operation: str, trials: int, rng: random.Random) -> dict:
    pristine = root / f"{operation}-pristine"
    build(pristine, 0)
    if operation == "reindex":  # start from HNSW with tombstones: reindex also drops them
        write("reindex", pristine)
    before = state_of(pristine)
    reference = root / f"{operation}-reference"
    shutil.copytree(pristine, reference)
    done = run_child("write", operation, str(reference))
    if done.returncode:
        raise SystemExit(f"{operation} failed: {done.stderr}")
    seconds = json.loads(done.stdout.splitlines()[-1])["seconds"]
    after = state_of(reference)
    outcome = {"operation": operation, "trials": trials, "failures": 0, "lost_items": 0,
               "before": 0, "after": 0, "write_seconds": round(seconds, 2), "problems": []}
    for trial in range(trials):
        path = root / f"{operation}-{trial}"
        shutil.copytree(pristine, path)
        process = subprocess.Popen([sys.executable, __file__, "--child", "write", operation,
                                    str(path)], stdout=subprocess.PIPE, text=True)
        process.stdout.readline()  # "ready": imports done, the write starts now
        time.sleep(rng.uniform(0, seconds * 1.05))
        process.send_signal(signal.SIGKILL)
        process.wait()
        problems = check_after_kill(path, before, after)
        if problems:
            outcome["failures"] += 1
            outcome["problems"] += [f"trial {trial}: {p}" for p in problems]
            outcome["lost_items"] += sum(p.startswith("lost") for p in problems)
        else:
            seen = state_of(path)
            outcome["before" if seen["answer"] == before["answer"] and
                    seen["count"] == before["count"] else "after"] += 1
        shutil.rmtree(path, ignore_errors=True)
    return outcome


def check_after_kill(path: Path, before: dict, after: dict) -> list[str]:
    from embedsearch.index import IndexWriter, versions

    problems = []
    try:
        seen = state_of(path)
    except Exception as error:  # noqa: BLE001 - every failure to open is what we count
        return [f"does not open: {type(error).__name__}: {error}"]
    if not seen["count"] == seen["sqlite"] == seen["faiss"] == seen["fulltext"]:
        problems.append(f"counts disagree: {seen['count']}, {seen['sqlite']}, {seen['faiss']}, "
                        f"full-text {seen['fulltext']}")
    if not seen["fulltext_exact"]:
        problems.append("the full-text index does not match the rows")
    matches = [s for s in (before, after) if s["answer"] == seen["answer"]]
    if not matches:
        problems.append("the fixed query answers neither as before nor as after")
    elif seen["count"] not in (before["count"], after["count"]):
        problems.append(f"lost items: {seen['count']} items, expected {before['count']} "
                        f"or {after['count']}")
    try:
        with IndexWriter.update(path):
            pass
    except Exception as error:  # noqa: BLE001
        problems.append(f"the next writer fails: {type(error).__name__}: {error}")
    leftovers = list(path.glob(versions.TMP_PREFIX + "*"))
    if leftovers:
        problems.append(f"leftovers after the next writer: {[p.name for p in leftovers]}")
    return problems


# -- 2. readers while a writer commits ------------------------------------------------

def churn(path: Path, seconds: float) -> None:
    """Add a batch of items, commit, delete them, commit, until `seconds` have passed."""
    from embedsearch.index import IndexWriter

    commits = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with IndexWriter.update(path) as writer:
            writer.add(items_for(0, BATCH, "extra"), extra_vectors())
        with IndexWriter.update(path) as writer:
            writer.delete(keys=[f"extra{i}" for i in range(BATCH)])
        commits += 2
    print(json.dumps({"commits": commits}))


def extra_vectors() -> np.ndarray:
    """The added batch; its first item is the fixed query itself, so the answer changes."""
    vectors = vectors_for(0, BATCH, 99)
    vectors[0] = query_vector()[0]
    return vectors


def read_loop(path: Path, seconds: float, expected: dict) -> None:
    """Open the index and ask the fixed query until `seconds` pass; report what was seen."""
    from embedsearch.index import Index

    report = {"queries": 0, "errors": 0, "wrong": 0, "half_written": 0, "messages": []}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with Index.open(path) as index:
                count = index.count
                found = answer(index)
        except Exception as error:  # noqa: BLE001
            report["errors"] += 1
            report["messages"].append(f"{type(error).__name__}: {error}")
            continue
        report["queries"] += 1
        if str(count) not in expected:
            report["half_written"] += 1
        elif found != expected[str(count)]:
            report["wrong"] += 1
    report["messages"] = report["messages"][:5]
    print(json.dumps(report))


def readers_and_writer(root: Path, seconds: float, readers: int = 4) -> dict:
    from embedsearch.index import Index, IndexWriter

    path = root / "shared"
    build(path, 0)
    expected = {str(BASE_ITEMS): state_of(path)["answer"]}
    with IndexWriter.update(path) as writer:
        writer.add(items_for(0, BATCH, "extra"), extra_vectors())
    expected[str(BASE_ITEMS + BATCH)] = state_of(path)["answer"]
    with IndexWriter.update(path) as writer:
        writer.delete(keys=[f"extra{i}" for i in range(BATCH)])
    processes = [subprocess.Popen([sys.executable, __file__, "--child", "read", str(path),
                                   str(seconds), json.dumps(expected)],
                                  stdout=subprocess.PIPE, text=True) for _ in range(readers)]
    writer = run_child("churn", str(path), str(seconds), timeout=seconds * 10 + 60)
    reports = [json.loads(p.communicate(timeout=seconds * 10 + 60)[0]) for p in processes]
    outcome = {"seconds": seconds, "readers": readers,
               "commits": json.loads(writer.stdout)["commits"] if writer.returncode == 0 else 0,
               "writer_error": writer.stderr.strip().splitlines()[-1:] if writer.returncode else []}
    for field in ("queries", "errors", "wrong", "half_written"):
        outcome[field] = sum(r[field] for r in reports)
    outcome["messages"] = [m for r in reports for m in r["messages"]][:5]
    # A reader holding a version open while two more versions are committed (and its
    # folder is removed: only the live and the previous version are kept).
    held = Index.open(path)
    held_answer, held_version = answer(held), held.version_dir
    with IndexWriter.update(path) as writer:
        writer.add(items_for(0, BATCH, "extra"), extra_vectors())
    with IndexWriter.update(path) as writer:
        writer.delete(keys=[f"extra{i}" for i in range(BATCH)])
    try:
        outcome["old_reader"] = {
            "version_removed": not held_version.exists(),
            "answers_as_its_version": answer(held) == held_answer,
            "count": held.count, "rows": len(held.keys_of(range(5)))}
    except Exception as error:  # noqa: BLE001
        outcome["old_reader"] = {"version_removed": not held_version.exists(),
                                 "error": f"{type(error).__name__}: {error}"}
    held.close()
    return outcome


# -- 3. damaged files -----------------------------------------------------------------

DAMAGES = ("truncated", "garbled-start", "garbled-middle")


def damage(path: Path, how: str, rng: random.Random) -> None:
    data = bytearray(path.read_bytes())
    if how == "truncated":
        data = data[:len(data) // 2]
    else:
        start = 0 if how == "garbled-start" else len(data) // 2
        for offset in range(start, min(start + 16, len(data))):
            data[offset] = (data[offset] + rng.randrange(1, 256)) % 256
    path.write_bytes(bytes(data))


def damaged_files(root: Path, rng: random.Random) -> list[dict]:
    from embedsearch.index import IndexWriter, versions

    pristine = root / "damage-pristine"
    build(pristine, 0)
    write("reindex", pristine)  # HNSW, so that a version also holds tombstones.npy
    with IndexWriter.update(pristine) as writer:
        writer.delete(keys=["item1", "item2"])
    good = state_of(pristine)
    live = versions.current_version(pristine).name
    # The version's files (its keyword/ folder is a cache, not checked: FTS5 answers without it).
    names = sorted(p.name for p in (pristine / live).iterdir() if p.is_file()) \
        + [versions.CURRENT_FILE]
    cases = []
    for name in names:
        for how in DAMAGES:
            path = root / f"damage-{name}-{how}"
            shutil.copytree(pristine, path)
            target = path / name if name == versions.CURRENT_FILE else path / live / name
            damage(target, how, rng)
            cases.append((name, how, path))
    verdicts = open_damaged([path for _, _, path in cases], good)
    return [{"file": name, "damage": how, "verdict": verdict,
             "clear_error": verdict.startswith("IndexCorruptError")}
            for (name, how, _), verdict in zip(cases, verdicts)]


def open_damaged(paths: list[Path], good: dict) -> list[str]:
    """Open and query each index in child processes; a child that dies is restarted after it."""
    verdicts: list[str] = []
    while len(verdicts) < len(paths):
        remaining = [str(path) for path in paths[len(verdicts):]]
        process = subprocess.Popen([sys.executable, __file__, "--child", "open", *remaining],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            out, err = process.communicate(timeout=60 + 10 * len(remaining))
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
            lines = out.splitlines()
            verdicts += [verdict_of(line, good) for line in lines] + ["hang"]
            continue
        lines = out.splitlines()
        verdicts += [verdict_of(line, good) for line in lines]
        if len(lines) < len(remaining):
            verdicts.append(f"crash (signal {-process.returncode})" if process.returncode < 0
                            else "traceback: " + (err.strip().splitlines() or ["?"])[-1])
    return verdicts


def verdict_of(line: str, good: dict) -> str:
    seen = json.loads(line)
    if "error" in seen:
        return f"{seen['error']}: {seen['message']}"
    return "opens, same answer" if seen["state"] == good else "WRONG ANSWER"


# -- the report -----------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true", help="one kill per write, 1 s of readers")
    parser.add_argument("--trials", type=int, default=20, help="kills per kind of write")
    parser.add_argument("--seconds", type=float, default=60, help="how long the readers read")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", choices=("kills", "readers", "damaged"), action="append",
                        help="run only these experiments (repeatable; default all three)")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object")
    parser.add_argument("--child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child)
    trials, seconds = (1, 1.0) if args.short else (args.trials, args.seconds)
    if args.short and not SHORT:
        os.environ["STRESS_STORE_SHORT"] = "1"
        os.execv(sys.executable, [sys.executable, __file__, *sys.argv[1:]])
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="stress-") as scratch:
        root = Path(scratch)
        wanted = args.only or ("kills", "readers", "damaged")
        results = {}
        if "kills" in wanted:
            results["kills"] = [kill_trials(root, op, trials, rng)
                                for op in ("build", "add", "reindex", "delete")]
        if "readers" in wanted:
            results["readers"] = readers_and_writer(root, seconds)
        if "damaged" in wanted:
            results["damaged"] = damaged_files(root, rng)
    if args.json:
        print(json.dumps(results))
        return
    print_report(results)


def print_report(results: dict) -> None:
    print("kill -9 during writes")
    print(f"  {'write':8} {'trials':>6} {'failures':>8} {'lost':>5} {'before':>6} {'after':>6}  write s")
    for row in results.get("kills", []):
        print(f"  {row['operation']:8} {row['trials']:6} {row['failures']:8} {row['lost_items']:5} "
              f"{row['before']:6} {row['after']:6}  {row['write_seconds']}")
        for problem in row["problems"][:5]:
            print(f"    {problem}")
    readers = results.get("readers")
    if readers:
        print_readers(readers)
    print("damaged files")
    for row in results.get("damaged", []):
        print(f"  {row['file']:16} {row['damage']:15} {row['verdict'][:110]}")


def print_readers(readers: dict) -> None:
    print(f"readers during writes ({readers['readers']} readers, {readers['seconds']} s, "
          f"{readers['commits']} commits): {readers['queries']} queries, {readers['errors']} errors, "
          f"{readers['wrong']} wrong answers, {readers['half_written']} half-written versions seen")
    for message in readers["messages"]:
        print(f"    {message}")
    print(f"  a reader holding an old version after two more commits: {readers['old_reader']}")


if __name__ == "__main__":
    main()
