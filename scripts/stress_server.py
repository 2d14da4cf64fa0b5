"""Does `embedsearch serve` stay up under readers and a writer, and through kill -9? (stress test)

On a synthetic corpus index (sentences of GloVe words, encoded by the index's own
encoder, so every reader query is a text query that goes through the encoder):

1. **Readers alone**, then **readers with a writer**: 16 reader threads ask text
   neighbours queries over keep-alive connections; the writer adds a batch of
   new items and deletes the batch it added two seconds before, every second.
   Reported: reader throughput and p50/p99 in both phases and their ratio, the
   server's RSS and open descriptors at the start and end of the writer phase,
   write latency, and every 5xx. At the end every acknowledged write is checked
   (added keys present, deleted keys absent; a write cut off by the kill may go either way).
2. **kill -9 mid-burst**, `--kills` times: the writer writes back to back and
   the server is killed at a random moment; it is restarted on the same index and
   the same checks run (acknowledged writes present, no 5xx, the index answers).

Loopback only; the work is bounded by `--seconds` and `--kills`:

    python scripts/stress_server.py --seconds 300 --kills 5
    python scripts/stress_server.py --seconds 20 --kills 1      # a quick look
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

READERS = 16
BATCH = 5  # items per write
K = 10


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def build_index(folder: Path, encoder_name: str, items: int, seed: int) -> tuple[Path, list[str]]:
    from embedsearch.encoders import load_encoder
    from embedsearch.indexing.build import build_corpus_index

    encoder = load_encoder(encoder_name)
    words = [w for w in encoder.words[:20000] if w.isalpha()]
    rng = random.Random(seed)
    corpus = folder / "notes.jsonl"
    with open(corpus, "w") as handle:
        for number in range(items):
            text = " ".join(rng.choice(words) for _ in range(12))
            handle.write(json.dumps({"id": f"base{number}", "text": text}) + "\n")
    path = folder / "notes"
    build_corpus_index(corpus, encoder, path, key_field="id", show_progress=False)
    return path, words


class Server:
    """`embedsearch serve` in a child process on a free loopback port."""

    def __init__(self, index: Path, log: Path):
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "embedsearch", "serve", str(index), "--port", str(self.port)],
            stdout=open(log, "a"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                status, _ = request(self.port, "GET", "/indexes/notes")
                if status == 200:
                    return
            except OSError:
                time.sleep(0.2)
        raise SystemExit("the server did not come up")

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def descriptors(self) -> int:
        return len(os.listdir(f"/proc/{self.process.pid}/fd"))

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def kill(self) -> None:
        self.process.kill()  # SIGKILL
        self.process.wait()


def request(port: int, method: str, path: str, body=None, connection=None):
    """(status, parsed JSON) of one request; `connection` keeps it alive between calls."""
    own = connection is None
    connection = connection or http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        payload = None if body is None else json.dumps(body).encode()
        connection.request(method, path, body=payload,
                           headers={"content-type": "application/json"})
        response = connection.getresponse()
        data = response.read()
        return response.status, json.loads(data) if data else None
    finally:
        if own:
            connection.close()


class Readers:
    """READERS threads asking text queries until stopped; latencies and statuses per phase."""

    def __init__(self, port: int, words: list[str], seed: int):
        self.port, self.words, self.seed = port, words, seed
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.statuses: dict[int, int] = {}
        self.errors: list[str] = []
        self.threads = [threading.Thread(target=self._run, args=(n,), daemon=True)
                        for n in range(READERS)]

    def start(self) -> "Readers":
        for thread in self.threads:
            thread.start()
        return self

    def take(self) -> tuple[list[float], dict[int, int]]:
        """The latencies and statuses since the last call."""
        with self.lock:
            taken = self.latencies, self.statuses
            self.latencies, self.statuses = [], {}
        return taken

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(30)

    def _run(self, number: int) -> None:
        rng = random.Random(self.seed * 100 + number)
        connection = None
        while not self.stopping.is_set():
            text = " ".join(rng.choice(self.words) for _ in range(3))
            started = time.perf_counter()
            try:
                connection = connection or http.client.HTTPConnection("127.0.0.1", self.port,
                                                                      timeout=120)
                status, _ = request(self.port, "POST", "/indexes/notes/neighbors",
                                    {"query": text, "k": K}, connection)
            except (OSError, http.client.HTTPException) as error:
                connection = None
                if not self.stopping.is_set():
                    with self.lock:
                        self.errors.append(repr(error))
                    time.sleep(0.05)
                continue
            with self.lock:
                self.latencies.append(time.perf_counter() - started)
                self.statuses[status] = self.statuses.get(status, 0) + 1


class Writer:
    """Adds a batch of new items and deletes the batch added two writes before, every
    `interval` seconds (0: back to back); records what the server acknowledged."""

    def __init__(self, port: int, words: list[str], interval: float, prefix: str):
        self.port, self.words, self.interval, self.prefix = port, words, interval, prefix
        self.present: set[str] = set()  # acknowledged added, not acknowledged deleted
        self.deleted: set[str] = set()  # acknowledged deleted
        self.latencies: list[float] = []
        self.statuses: dict[int, int] = {}
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "Writer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(60)

    def _write(self, path: str, body) -> bool | None:
        """True if acknowledged, False if refused, None if the server went away mid-request
        (the write may or may not have been published)."""
        started = time.perf_counter()
        try:
            status, _ = request(self.port, "POST", path, body)
        except (OSError, http.client.HTTPException):
            return None
        self.latencies.append(time.perf_counter() - started)
        self.statuses[status] = self.statuses.get(status, 0) + 1
        return status == 200

    def _run(self) -> None:
        rng = random.Random(7)
        batches: list[list[str]] = []
        number = 0
        while not self.stopping.is_set():
            started = time.monotonic()
            keys = [f"{self.prefix}{number}-{i}" for i in range(BATCH)]
            number += 1
            items = [{"key": key, "text": " ".join(rng.choice(self.words) for _ in range(10))}
                     for key in keys]
            if self._write("/indexes/notes/items", {"items": items}):
                self.present.update(keys)
                batches.append(keys)
            if len(batches) > 2:
                old = batches.pop(0)
                acknowledged = self._write("/indexes/notes/items/delete", {"keys": old})
                if acknowledged is not False:  # deleted, or perhaps: no longer checked present
                    self.present.difference_update(old)
                if acknowledged:
                    self.deleted.update(old)
            self.stopping.wait(max(0.0, self.interval - (time.monotonic() - started)))


def check_writes(port: int, present: set[str], deleted: set[str]) -> dict:
    """Which acknowledged writes the index does not show: added keys missing, deleted keys back."""
    def found(keys: list[str]) -> set[str]:
        seen = set()
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            status, hits = request(port, "POST", "/indexes/notes/neighbors",
                                   {"query": "the", "k": len(chunk),
                                    "filter": {"key": {"$in": chunk}}})
            if status != 200:
                raise SystemExit(f"checking writes: HTTP {status}: {hits}")
            seen.update(hit["key"] for hit in hits)
        return seen

    missing = set(present) - found(sorted(present))
    returned = found(sorted(deleted))
    return {"acknowledged_present": len(present), "missing": len(missing),
            "acknowledged_deleted": len(deleted), "deleted_but_found": len(returned)}


def summary(latencies: list[float], seconds: float) -> dict:
    values = np.array(latencies) if latencies else np.array([np.nan])
    return {"requests": len(latencies), "rps": round(len(latencies) / seconds, 1),
            "p50_ms": round(1e3 * float(np.percentile(values, 50)), 1),
            "p99_ms": round(1e3 * float(np.percentile(values, 99)), 1)}


def five_hundreds(statuses: dict[int, int]) -> int:
    return sum(count for status, count in statuses.items() if status >= 500)


def readers_and_writer(index: Path, words: list[str], seconds: float, baseline: float,
                       log: Path) -> dict:
    server = Server(index, log)
    try:
        readers = Readers(server.port, words, seed=1).start()
        try:
            time.sleep(min(5.0, baseline))  # warm up: connections, encoder, page cache
            readers.take()
            time.sleep(baseline)
            alone, alone_statuses = readers.take()
            start = {"rss_mb": round(server.rss_mb(), 1), "descriptors": server.descriptors()}
            writer = Writer(server.port, words, interval=1.0, prefix="w").start()
            time.sleep(seconds)
            writer.stop()
            together, together_statuses = readers.take()
            end = {"rss_mb": round(server.rss_mb(), 1), "descriptors": server.descriptors()}
        finally:
            readers.stop()
        checks = check_writes(server.port, writer.present, writer.deleted)
    finally:
        server.stop()
    result = {"readers_alone": summary(alone, baseline),
              "readers_with_writer": summary(together, seconds),
              "writes": {**summary(writer.latencies, seconds), "statuses": writer.statuses},
              "server_start": start, "server_end": end, "checks": checks,
              "reader_5xx": five_hundreds(alone_statuses) + five_hundreds(together_statuses),
              "writer_5xx": five_hundreds(writer.statuses), "reader_errors": len(readers.errors)}
    alone_rps = result["readers_alone"]["rps"]
    result["throughput_ratio"] = round(result["readers_with_writer"]["rps"] / alone_rps, 3) \
        if alone_rps else None
    return result


def kills(index: Path, words: list[str], times: int, seed: int, log: Path) -> list[dict]:
    rng = random.Random(seed)
    present: set[str] = set()
    deleted: set[str] = set()
    rounds = []
    for round_number in range(times):
        server = Server(index, log)
        request(server.port, "POST", "/indexes/notes/neighbors", {"query": "the"})  # warm
        readers = Readers(server.port, words, seed=round_number + 10).start()
        writer = Writer(server.port, words, interval=0.0, prefix=f"k{round_number}-")
        writer.present, writer.deleted = present, deleted
        writer.start()
        time.sleep(rng.uniform(2.0, 6.0))
        server.kill()
        writer.stop()
        readers.stop()
        _, statuses = readers.take()
        restarted = Server(index, log)
        try:
            rounds.append(after_restart(restarted, index, round_number, words, present,
                                        deleted, writer, statuses))
        finally:
            restarted.stop()
    return rounds


def after_restart(restarted: Server, index: Path, round_number: int, words: list[str],
                  present: set[str], deleted: set[str], writer: Writer,
                  statuses: dict[int, int]) -> dict:
    """The checks after a kill: acknowledged writes, the next write, leftovers, the server."""
    checks = check_writes(restarted.port, present, deleted)
    # The next write must go through (and clear the killed writer's tmp- folder).
    after = {"key": f"after-kill-{round_number}", "text": " ".join(words[:5])}
    write_status, _ = request(restarted.port, "POST", "/indexes/notes/items", {"items": [after]})
    if write_status == 200:
        present.add(after["key"])
    status, info = request(restarted.port, "GET", "/indexes/notes")
    return {"writes_acknowledged": writer.statuses.get(200, 0),
            "reader_5xx": five_hundreds(statuses),
            "writer_5xx": five_hundreds(writer.statuses), **checks,
            "write_after_restart": write_status,
            "tmp_folders_left": sum(p.name.startswith("tmp") for p in index.iterdir()),
            "count_after_restart": info["count"] if status == 200 else None,
            "rss_mb_after_restart": round(restarted.rss_mb(), 1),
            "descriptors_after_restart": restarted.descriptors()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300,
                        help="length of the readers-with-writer phase (0: kills only)")
    parser.add_argument("--baseline", type=float, default=60,
                        help="length of the readers-alone phase")
    parser.add_argument("--kills", type=int, default=5, help="kill -9 and restart rounds")
    parser.add_argument("--items", type=int, default=5000, help="items in the index at the start")
    parser.add_argument("--encoder", default="glove-6b-50d")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.seconds > 3600 or args.kills > 50:
        raise SystemExit("at most an hour and 50 kills: this is a bounded test")
    with tempfile.TemporaryDirectory(prefix="stress-server-") as folder:
        folder = Path(folder)
        index, words = build_index(folder, args.encoder, args.items, args.seed)
        log = folder / "server.log"
        result = {"load_before": os.getloadavg()}
        if args.seconds > 0:
            result["load"] = readers_and_writer(index, words, args.seconds, args.baseline, log)
            print(json.dumps(result["load"], indent=1), flush=True)
        result["kills"] = kills(index, words, args.kills, args.seed, log)
        result["load_after"] = os.getloadavg()
        tracebacks = log.read_text().count("Traceback")
        result["server_tracebacks"] = tracebacks
        print(json.dumps({k: v for k, v in result.items() if k != "load"}, indent=1))


if __name__ == "__main__":
    main()
