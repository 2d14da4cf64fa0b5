"""Neighbours over HTTP: requests per second and p50/p99 latency at 1, 4 and 16 concurrent clients.

In one run, on the same query vectors (GloVe words, k=10):
  python   the in-process Python API (`query.neighbors`), from as many threads: the baseline
           that gives the server's overhead;
  serve    `embedsearch serve` in its own process, over HTTP with keep-alive clients
           (`serve x2`: the same with --workers 2);
  chroma   Chroma's own HTTP server (`chroma run`, from a throwaway venv outside the project)
           holding the same vectors, its HNSW search width raised until its recall@10 matches
           ours (both measured against exact search).

    python scripts/bench_serve.py --index glove-hnsw --chroma-venv /tmp/chroma-venv

Chroma is never installed into the project: give --chroma-venv a venv with chromadb in it
(python -m venv /tmp/chroma-venv && /tmp/chroma-venv/bin/pip install chromadb), or
--no-chroma. Clients are threads in this process, the same for both servers.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

CONCURRENCY = (1, 4, 16)
K = 10
CHROMA_API = "/api/v2/tenants/default_tenant/databases/default_database/collections"
CHROMA_LOADER = """
import sys, json, numpy as np, chromadb
port, path, ef = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
client = chromadb.HttpClient(host="127.0.0.1", port=port)
vectors = np.load(path, mmap_mode="r")
collection = client.get_or_create_collection(
    "bench", configuration={"hnsw": {"space": "cosine", "ef_construction": 200, "max_neighbors": 32,
                                     "ef_search": ef}})
# Resumable: ids are row numbers, added in order, so a rerun adds only the rows still missing.
step = client.get_max_batch_size()
for start in range(collection.count(), len(vectors), step):
    stop = min(start + step, len(vectors))
    collection.add(ids=[str(i) for i in range(start, stop)],
                   embeddings=np.ascontiguousarray(vectors[start:stop]))
print(json.dumps({"id": str(collection.id), "count": collection.count()}))
"""
CHROMA_EF = """
import sys, chromadb
client = chromadb.HttpClient(host="127.0.0.1", port=int(sys.argv[1]))
client.get_collection("bench").modify(configuration={"hnsw": {"ef_search": int(sys.argv[2])}})
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, seconds: float = 120) -> None:
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"{url} did not come up")


def measure(call, payloads, concurrency: int, requests: int) -> dict:
    """Run `requests` calls from `concurrency` threads (each its own session); rate and latencies."""
    latencies = np.zeros(requests)
    counter = iter(range(requests))
    lock = threading.Lock()
    failures = []

    def worker():
        try:
            run_worker()
        except BaseException as error:  # a thread's exception would otherwise vanish
            failures.append(error)

    def run_worker():
        session = call.session()
        try:
            for _ in range(5):  # warm the connection
                call(session, payloads[0])
            while True:
                with lock:
                    number = next(counter, None)
                if number is None:
                    return
                started = time.perf_counter()
                call(session, payloads[number % len(payloads)])
                latencies[number] = time.perf_counter() - started
        finally:
            call.close(session)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise SystemExit(f"a client failed at concurrency {concurrency}: {failures[0]!r}")
    return {"rps": requests / elapsed, "p50_ms": 1e3 * np.percentile(latencies, 50),
            "p99_ms": 1e3 * np.percentile(latencies, 99)}


class PythonCall:
    def __init__(self, index):
        from embedsearch import query

        self.index, self.neighbors = index, query.neighbors

    def session(self):
        return None

    def close(self, session):
        pass

    def __call__(self, session, vector):
        return [hit.id for hit in self.neighbors(self.index, vector=vector, k=K)]


class HttpCall:
    """POST one query vector over a keep-alive connection; `ids` turns the answer into item ids.

    http.client sends the request line, headers and body in one write, and is the leanest
    Python client, so the latency measured is the server's, not the client library's."""

    def __init__(self, url: str, body, ids):
        parts = urlsplit(url)
        self.host, self.port, self.path = parts.hostname, parts.port, parts.path
        self.body, self.ids = body, ids

    def session(self):
        connection = http.client.HTTPConnection(self.host, self.port, timeout=60)
        connection.connect()
        connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection

    def close(self, session):
        session.close()

    def __call__(self, session, vector):
        session.request("POST", self.path, body=json.dumps(self.body(vector)).encode(),
                        headers={"content-type": "application/json"})
        response = session.getresponse()
        payload = response.read()
        if response.status != 200:
            raise SystemExit(f"{self.path}: HTTP {response.status}: {payload[:200]!r}")
        return self.ids(json.loads(payload))


def recall(call, vectors, exact_ids) -> float:
    session = call.session()
    try:
        found = [set(call(session, v)) for v in vectors]
    finally:
        call.close(session)
    return float(np.mean([len(f & set(e.tolist())) / K for f, e in zip(found, exact_ids)]))


def run_chroma(venv: Path, data: Path):
    """`chroma run` on loopback over `data`; (process, port) once it answers."""
    port = free_port()
    process = subprocess.Popen([str(venv / "bin" / "chroma"), "run", "--path", str(data / "db"),
                                "--host", "127.0.0.1", "--port", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until_up(f"http://127.0.0.1:{port}/api/v2/heartbeat")
    return process, port


def load_chroma(venv: Path, port: int, vectors: np.ndarray, ef: int, data: Path) -> str:
    """The id of the collection holding `vectors` in the running Chroma, loading what is missing.

    The collection persists in `data`, so a later run with the same vectors loads nothing."""
    np.save(data / "vectors.npy", vectors)
    started = time.perf_counter()
    loaded = subprocess.run(["nice", "-n", "19", str(venv / "bin" / "python"), "-c", CHROMA_LOADER,
                             str(port), str(data / "vectors.npy"), str(ef)],
                            check=True, capture_output=True, text=True)
    info = json.loads(loaded.stdout.strip().splitlines()[-1])
    print(f"chroma: {info['count']:,} vectors ready after {time.perf_counter() - started:.0f} s "
          f"(data in {data})", flush=True)
    return info["id"]


def stop(process) -> None:
    process.terminate()
    process.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", default="glove-6b-50d")
    parser.add_argument("--queries", type=int, default=500, help="distinct query words")
    parser.add_argument("--requests", type=int, default=1000, help="requests per measurement")
    parser.add_argument("--chroma-venv", type=Path, default=Path("/tmp/chroma-venv"))
    parser.add_argument("--chroma-data", type=Path, default=Path("/tmp/chroma-data"),
                        help="Chroma's data folder, kept between runs so the vectors load once")
    parser.add_argument("--no-chroma", action="store_true")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2],
                        help="serve --workers values, each measured as its own system")
    parser.add_argument("--chroma-ef", type=int, nargs="+", default=[100, 200, 400],
                        help="Chroma ef_search values tried, smallest first, until recall matches")
    args = parser.parse_args()

    from embedsearch.index import Index
    from embedsearch.query import exact_search

    index = Index.open(args.index, in_memory=True)
    rng = np.random.default_rng(0)
    ids = np.sort(rng.choice(min(index.count, 100_000), args.queries, replace=False))
    vectors = index.vectors_of(ids)
    exact_ids, _ = exact_search(index, vectors, K)
    print(f"index {index.name}: {index.count:,} x {index.dim}, {index.manifest.index_type} "
          f"{json.dumps(index.manifest.index_params)}; {args.queries} query words, k={K}; "
          f"load {os.getloadavg()[0]:.1f}", flush=True)

    servers, systems, chroma = [], {"python": PythonCall(index)}, None
    try:
        for workers in args.workers:
            port = free_port()
            servers.append(subprocess.Popen(
                [sys.executable, "-m", "embedsearch", "serve", str(index.directory), "--port",
                 str(port), "--workers", str(workers)], stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL))
            wait_until_up(f"http://127.0.0.1:{port}/indexes")
            systems["serve" if workers == 1 else f"serve x{workers}"] = HttpCall(
                f"http://127.0.0.1:{port}/indexes/{index.name}/neighbors",
                lambda v: {"vector": v.tolist(), "k": K}, lambda hits: [hit["id"] for hit in hits])
        recalls = {name: recall(call, vectors, exact_ids) for name, call in systems.items()}
        our_recall = min(recalls.values())
        if not args.no_chroma:
            data = args.chroma_data / f"{index.name}-{index.manifest.rows}"
            data.mkdir(parents=True, exist_ok=True)
            chroma, chroma_port = run_chroma(args.chroma_venv, data)
            collection = load_chroma(args.chroma_venv, chroma_port, np.asarray(
                index.vectors_of(np.arange(index.manifest.rows))), args.chroma_ef[0], data)
            for ef in args.chroma_ef:
                # A changed ef_search is stored at once but used only once the collection is
                # loaded again: set it, then restart Chroma (its data stays; it is up in seconds).
                subprocess.run([str(args.chroma_venv / "bin" / "python"), "-c", CHROMA_EF,
                                str(chroma_port), str(ef)], check=True)
                stop(chroma)
                chroma, chroma_port = run_chroma(args.chroma_venv, data)
                chroma_call = HttpCall(
                    f"http://127.0.0.1:{chroma_port}{CHROMA_API}/{collection}/query",
                    lambda v: {"query_embeddings": [v.tolist()], "n_results": K,
                               "include": ["distances"]},
                    lambda answer: [int(i) for i in answer["ids"][0]])
                recalls["chroma"] = recall(chroma_call, vectors, exact_ids)
                print(f"chroma ef_search={ef}: recall@10 {recalls['chroma']:.4f} "
                      f"(ours {our_recall:.4f})", flush=True)
                if recalls["chroma"] >= our_recall - 0.002:
                    break
            systems["chroma"] = chroma_call
        print(f"\n{'system':8} {'recall@10':>9} {'clients':>7} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
        results = {}
        for concurrency in CONCURRENCY:
            for name, call in systems.items():
                result = results[name, concurrency] = measure(call, list(vectors), concurrency,
                                                              args.requests)
                print(f"{name:8} {recalls[name]:9.4f} {concurrency:7d} {result['rps']:8.0f} "
                      f"{result['p50_ms']:8.2f} {result['p99_ms']:8.2f}", flush=True)
        served = [name for name in systems if name.startswith("serve")]
        for name in served:
            overhead = results[name, 1]["p50_ms"] - results["python", 1]["p50_ms"]
            print(f"\n{name}: overhead at 1 client, p50: {overhead:.2f} ms", end="")
            if "chroma" in systems:
                ratio = results[name, 16]["rps"] / results["chroma", 16]["rps"]
                print(f"; throughput at 16 clients / chroma's: {ratio:.2f}x", end="")
        print()
        print(f"load at the end: {os.getloadavg()[0]:.1f}")
    finally:
        for process in servers + ([chroma] if chroma is not None else []):
            stop(process)
        index.close()


if __name__ == "__main__":
    main()
