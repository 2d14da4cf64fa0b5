"""Builds on Ray equal the single-process build; failures leave the previous index as it was.

One local Ray cluster (2 CPUs, a 200 MB object store, no dashboard) serves
every test of this module and is shut down after the last one. The corpus
is real text (gensim's Lee corpus) cut into lines, in a folder of text,
JSON Lines and Parquet files, encoded by a 20,000-word slice of GloVe saved
as an encoder directory (the workers load it by its path).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from embedsearch.cli import app
from embedsearch.corpus import CorpusReport
from embedsearch.encoders import WordVectors, load_encoder
from embedsearch.errors import EmbedsearchError
from embedsearch.index import Index, versions
from embedsearch.indexing import add_corpus, build_corpus_index
from embedsearch.indexing.engine import CorpusSource
from embedsearch.indexing.rebuild import rebuild_index
from helpers import assert_same_ranking, kill_once_written

ray = pytest.importorskip("ray")
from embedsearch.distributed import RayEngine  # noqa: E402

LEE = Path(__import__("gensim").__file__).parent / "test" / "test_data" / "lee_background.cor"


@pytest.fixture(scope="module")
def cluster():
    context = ray.init(num_cpus=2, object_store_memory=200 * 2**20, include_dashboard=False,
                       log_to_driver=False)
    yield context.address_info["gcs_address"]
    ray.shutdown()


@pytest.fixture(scope="module")
def encoder_dir(glove_slice, tmp_path_factory):
    return glove_slice.save(tmp_path_factory.mktemp("encoder") / "glove-slice")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Lee corpus lines: a text file, a JSON Lines file with keys and metadata, a Parquet file."""
    folder = tmp_path_factory.mktemp("corpus")
    lines = [line.strip() for line in LEE.read_text().splitlines() if line.strip()]
    sentences = [s.strip() + "." for line in lines for s in line.split(". ") if len(s) > 20]
    (folder / "a.txt").write_text("\n".join(sentences[:1500]) + "\n\n\n")
    with open(folder / "b.jsonl", "w") as handle:
        for number, text in enumerate(sentences[1500:2500]):
            handle.write(json.dumps({"id": f"b{number}", "text": text, "n": number}) + "\n")
        handle.write("not json\n")
    rows = sentences[2500:]
    pq.write_table(pa.table({"id": [f"c{n}" for n in range(len(rows))], "text": rows,
                             "year": list(range(len(rows)))}),
                   folder / "c.parquet", row_group_size=500)
    return folder


def search_all(path, queries, k=10):
    with Index.open(path) as index:
        return index.search(queries, k=k), index.manifest, index.count


def assert_same_index(path, reference, sample=40):
    with Index.open(reference) as expected:
        queries = expected.vectors_of(np.linspace(0, expected.count - 1, sample).astype(int))
        want = expected.search(queries, k=10)
        rows = expected.items.rows(range(expected.manifest.rows))
    got, manifest, count = search_all(path, queries)
    assert count == len(rows)
    with Index.open(path) as index:
        assert index.items.rows(range(index.manifest.rows)) == rows  # same ids, keys, texts, metadata
    for hits, reference_hits in zip(got, want):
        assert_same_ranking(hits, [(h.key, h.score) for h in reference_hits])
    return manifest


@pytest.mark.parametrize("index_type", ["flat", "ivfpq"])
def test_ray_build_equals_the_local_build(cluster, corpus, encoder_dir, tmp_path, index_type):
    encoder = load_encoder(encoder_dir)
    local = build_corpus_index(corpus, encoder, tmp_path / "local", key_field="id", unit="line",
                               index_type=index_type, show_progress=False)
    with RayEngine(workers=2) as engine:
        distributed = build_corpus_index(corpus, encoder, tmp_path / "ray", key_field="id", unit="line",
                                         index_type=index_type, show_progress=False, engine=engine)
    assert (distributed.items, distributed.skipped, distributed.replaced_lines) == \
        (local.items, local.skipped, local.replaced_lines)
    assert distributed.skipped["invalid JSON line"] == 1
    manifest = assert_same_index(tmp_path / "ray", tmp_path / "local")
    assert manifest.build == {"engine": "ray", "workers": 2, "chunk_words": 200, "chunk_overlap": 0}
    assert manifest.index_type == index_type
    assert_same_fulltext(tmp_path / "ray", tmp_path / "local")


def assert_same_fulltext(path, reference):
    """The Ray build's full-text index is exact (FTS5's own check) and answers as the local one."""
    import sqlite3

    from embedsearch.index.fulltext import check_fulltext, keyword_search

    answers = []
    for built in (path, reference):
        with Index.open(built) as index:
            copy = sqlite3.connect(":memory:")
            index.items.connection.backup(copy)
            check_fulltext(copy)
            answers.append([keyword_search(copy, words, 50) for words in
                            ("government", "fire near Sydney", "Taliban leaders")])
    assert answers[0] == answers[1] and all(answers[0])


def test_an_encoder_actor_keeps_the_threads_it_was_given(cluster, tmp_path):
    """A torch encoder claims every core when it loads; the actor must pin its threads after that."""
    from helpers import tiny_attention_encoder

    from embedsearch.distributed.encoding import EncodeBatches

    encoder = tiny_attention_encoder()
    spec = str(encoder.save(tmp_path / "attention"))

    @ray.remote(num_cpus=1)
    def threads_after_loading():
        import torch

        EncodeBatches(spec, encoder.fingerprint(), threads=1)
        return torch.get_num_threads()

    assert ray.get(threads_after_loading.remote()) == 1


def test_parquet_corpus_keys_and_metadata(cluster, corpus, encoder_dir, tmp_path):
    encoder = load_encoder(encoder_dir)
    with RayEngine(workers=1) as engine:
        build_corpus_index(corpus / "c.parquet", encoder, tmp_path / "ray", show_progress=False,
                           engine=engine)
    build_corpus_index(corpus / "c.parquet", encoder, tmp_path / "local", show_progress=False)
    assert_same_index(tmp_path / "ray", tmp_path / "local")
    with Index.open(tmp_path / "ray") as index:
        row = index.get(key="c.parquet:7")
    assert row["metadata"] == {"id": "c6", "year": 6} and row["position"] == 7 and row["source"] == "c.parquet"


def test_add_on_ray_equals_the_local_add(cluster, corpus, encoder_dir, tmp_path):
    encoder = load_encoder(encoder_dir)
    for name in ("local", "ray"):
        build_corpus_index(corpus / "a.txt", encoder, tmp_path / name, show_progress=False)
    local = add_corpus(tmp_path / "local", corpus, key_field="id", unit="line", show_progress=False)
    with RayEngine(workers=2) as engine:
        distributed = add_corpus(tmp_path / "ray", corpus, key_field="id", unit="line", show_progress=False,
                                 engine=engine)
    assert (distributed.added, distributed.unchanged, distributed.count) == \
        (local.added, local.unchanged, local.count)
    assert local.unchanged == 1500
    assert_same_index(tmp_path / "ray", tmp_path / "local")


def test_ray_actors_skip_encoding_the_items_the_index_holds_unchanged(cluster, corpus,
                                                                       encoder_dir, tmp_path):
    encoder = load_encoder(encoder_dir)
    build_corpus_index(corpus / "a.txt", encoder, tmp_path / "index", show_progress=False)
    with Index.open(tmp_path / "index") as index:
        known = index.items.path
    source = CorpusSource(corpus, unit="line", key_field="id")
    encoded = {}
    with RayEngine(workers=2) as engine:
        for name, given in (("all", None), ("changed", known)):
            encoded[name] = {}
            for batch in engine.encoded(source, encoder, CorpusReport(), known=given):
                for item, ok in zip(batch.items, batch.encodable):
                    encoded[name].setdefault(item.source, []).append(bool(ok))
    assert sum(encoded["all"]["a.txt"]) == 1500
    assert not any(encoded["changed"]["a.txt"])  # unchanged: never encoded
    for other in ("b.jsonl", "c.parquet"):  # not in the index: encoded as without `known`
        assert encoded["changed"][other] == encoded["all"][other] and any(encoded["all"][other])


def test_rebuild_on_ray_equals_the_local_rebuild(cluster, corpus, glove_slice, encoder_dir,
                                                 tmp_path):
    old = load_encoder(encoder_dir)
    noise = np.random.default_rng(13).normal(0, 0.3, glove_slice.vectors.shape)
    new = load_encoder(WordVectors(glove_slice.words, glove_slice.vectors + noise,
                                   name="glove-noisy").save(tmp_path / "noisy"))
    for name in ("local", "ray"):
        build_corpus_index(corpus, old, tmp_path / name, key_field="id", unit="line", show_progress=False)
    local = rebuild_index(tmp_path / "local", encoder=new, show_progress=False)
    with RayEngine(workers=2) as engine:
        distributed = rebuild_index(tmp_path / "ray", encoder=new, show_progress=False,
                                    engine=engine)
    assert distributed.changed and distributed.items == local.items > 2000
    manifest = assert_same_index(tmp_path / "ray", tmp_path / "local")
    assert manifest.build == {"engine": "ray", "workers": 2, "chunk_words": 200, "chunk_overlap": 0}
    assert_same_fulltext(tmp_path / "ray", tmp_path / "local")
    assert manifest.encoder.fingerprint == new.fingerprint() != old.fingerprint()


def test_cli_build_on_ray(cluster, corpus, encoder_dir, home):
    result = CliRunner().invoke(app, ["build", "--corpus", str(corpus / "a.txt"), "--encoder",
                                      str(encoder_dir), "--out", "notes", "--ray", "--workers", "2"])
    assert result.exit_code == 0, result.output
    assert "1,500 items" in result.output
    with Index.open("notes") as index:
        assert index.manifest.build == {"engine": "ray", "workers": 2, "chunk_words": 200,
                                        "chunk_overlap": 0}


def _encoder_actor_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            title = (entry / "cmdline").read_bytes() if entry.name.isdigit() else b""
            if title.startswith(b"ray::") and b"EncodeBatches" in title:  # the actors' titles
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def test_killed_worker_leaves_the_old_index_or_finishes_it(cluster, corpus, encoder_dir,
                                                             tmp_path):
    encoder = load_encoder(encoder_dir)
    path = tmp_path / "idx"
    build_corpus_index(corpus / "a.txt", encoder, path, show_progress=False)
    live = versions.current_version(path)
    build_corpus_index(corpus, encoder, tmp_path / "reference", key_field="id", unit="line",
                       show_progress=False)

    class KillingEngine(RayEngine):
        """The real Ray engine, whose encoder actors are killed once the first batch arrived."""

        killed = 0

        def encoded(self, *args, **kwargs):
            for number, batch in enumerate(super().encoded(*args, **kwargs)):
                if number == 0:
                    for pid in _encoder_actor_pids():
                        os.kill(pid, signal.SIGKILL)
                        KillingEngine.killed += 1
                yield batch

    try:
        with KillingEngine(workers=2) as engine:
            build_corpus_index(corpus, encoder, path, key_field="id", unit="line", overwrite=True,
                               show_progress=False, engine=engine)
    except EmbedsearchError as error:  # Ray gave up: nothing was published
        assert "left as it was" in str(error)
        assert versions.current_version(path) == live
        with Index.open(path) as index:
            assert index.count == 1500
    else:  # Ray restarted the actors and re-ran their batches: a complete, equal index
        assert_same_index(path, tmp_path / "reference")
    assert KillingEngine.killed >= 1
    with RayEngine(workers=2) as engine:
        build_corpus_index(corpus, encoder, path, key_field="id", unit="line", overwrite=True,
                           show_progress=False, engine=engine)
    assert_same_index(path, tmp_path / "reference")
    assert not list(path.glob(versions.TMP_PREFIX + "*"))


def test_killed_driver_leaves_the_old_index(cluster, corpus, encoder_dir, tmp_path):
    encoder = load_encoder(encoder_dir)
    path = tmp_path / "idx"
    build_corpus_index(corpus / "a.txt", encoder, path, show_progress=False)
    live = versions.current_version(path)
    # The child joins this cluster, starts a Ray build, and is killed once it has added a batch.
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from embedsearch.distributed import RayEngine
        from embedsearch.encoders import load_encoder
        from embedsearch.indexing import build_corpus_index

        class Pausing(RayEngine):
            def encoded(self, *args, **kwargs):
                for number, batch in enumerate(super().encoded(*args, **kwargs)):
                    yield batch
                    print("written", flush=True)
                    time.sleep(60)

        with Pausing(address={cluster!r}, workers=1) as engine:
            build_corpus_index({str(corpus)!r}, load_encoder({str(encoder_dir)!r}), {str(path)!r}, unit="line",
                               overwrite=True, show_progress=False, engine=engine)
    """)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    kill_once_written(child, path)
    assert versions.current_version(path) == live
    with Index.open(path) as index:
        assert index.count == 1500
    with RayEngine(workers=1) as engine:
        build_corpus_index(corpus, encoder, path, overwrite=True, unit="line", show_progress=False,
                           engine=engine)
    with Index.open(path) as index:
        assert index.count > 1500
    assert not list(path.glob(versions.TMP_PREFIX + "*"))


def _cli(args, *, hide_ray=False, home=None):
    """The CLI in a fresh interpreter (no Ray connection of this test process)."""
    prelude = "import sys; sys.modules['ray'] = None; " if hide_ray else ""
    code = prelude + f"sys.argv = ['embedsearch'] + {args!r}; from embedsearch.cli import main; main()"
    env = {**os.environ, "EMBEDSEARCH_HOME": str(home)} if home else None
    return subprocess.run([sys.executable, "-c", "import sys; " + code], capture_output=True,
                          text=True, timeout=120, env=env)


def test_clear_error_without_ray(corpus, encoder_dir, tmp_path):
    result = _cli(["build", "--corpus", str(corpus / "a.txt"), "--encoder", str(encoder_dir),
                   "--out", str(tmp_path / "x"), "--ray"], hide_ray=True)
    assert result.returncode == 1
    assert result.stderr.strip() == ("error: Ray is not installed: pip install "
                                     "'embedsearch[distributed]' (or build without --ray)")
    assert not (tmp_path / "x").exists()


def test_clear_error_when_the_address_does_not_answer(corpus, encoder_dir, tmp_path):
    result = _cli(["build", "--corpus", str(corpus / "a.txt"), "--encoder", str(encoder_dir),
                   "--out", str(tmp_path / "x"), "--ray-address", "127.0.0.1:9"])
    assert result.returncode == 1
    assert result.stderr.startswith("error: cannot reach a Ray cluster at 127.0.0.1:9")
    assert "Traceback" not in result.stderr
