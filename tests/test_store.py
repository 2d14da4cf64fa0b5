"""The store: FAISS ids and SQLite rows agree, writes are atomic, one writer at a time."""

from __future__ import annotations

import os
import signal
import sqlite3
import struct
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from helpers import unit_rows
from embedsearch.corpus import Item
from embedsearch.errors import IndexCorruptError, IndexLockedError, IndexNotFoundError, InputError
from embedsearch.index import EncoderInfo, Index, IndexWriter
from embedsearch.index import checksums, versions
from embedsearch.index.manifest import Manifest

DIM = 8
ENCODER = EncoderInfo(name="random", kind="test", spec="random", fingerprint="f0")


def normalize_rows(n, seed=0):
    return unit_rows(n, DIM, seed)


def items(n, start=0, prefix="item"):
    return [Item(f"{prefix}{i}", f"text {i}", "test.txt", i, {"even": i % 2 == 0})
            for i in range(start, start + n)]


def build(path, n=100, seed=0):
    with IndexWriter.create(path, ENCODER, DIM) as writer:
        writer.add(items(n), normalize_rows(n, seed))
    return path


def test_add_get_count_and_reopen(tmp_path):
    vectors = normalize_rows(50)
    path = build(tmp_path / "idx", 50)
    with Index.open(path) as index:
        assert index.count == 50 and index.faiss.ntotal == 50
        row = index.get(key="item7")
        assert row["id"] == 7 and row["text"] == "text 7" and row["metadata"] == {"even": False}
        np.testing.assert_allclose(row["vector"], vectors[7])
        assert index.get(id=3)["key"] == "item3"
        assert index.get(key="missing") is None
        hits = index.search(vectors[:5], k=1)
        assert [h[0].id for h in hits] == [0, 1, 2, 3, 4]
        assert hits[0][0].score == pytest.approx(1.0, abs=1e-5)


def test_delete_and_upsert_keep_faiss_and_sqlite_in_step(tmp_path):
    path = build(tmp_path / "idx", 20)
    replacement = normalize_rows(2, seed=9)
    with IndexWriter.update(path) as writer:
        assert writer.delete(keys=["item1", "item2", "nope"], ids=[5]) == 3
        ids = writer.upsert([Item("item3", "new text"), Item("brand-new", "hello")], replacement)
    assert ids[0] == 3 and ids[1] == 20  # an upsert keeps the id; a new key gets a fresh one
    with Index.open(path) as index:
        assert index.count == 18 == index.faiss.ntotal == index.items.count()
        assert index.get(key="item1") is None and index.get(id=5) is None
        assert index.get(key="item3")["text"] == "new text"
        hit = index.search(replacement[:1], k=1)[0][0]
        assert (hit.id, hit.key) == (3, "item3")
        all_hits = index.search(normalize_rows(1, seed=4), k=100)[0]
        assert {h.id for h in all_hits} == {i for i in range(21) if i not in (1, 2, 5)}


def test_keys_of_every_shape_come_back_from_the_in_memory_table(tmp_path):
    """ASCII keys live in a fixed-width table, the others beside it: each comes back as stored,
    deleted ids as nothing, from SQLite (a first query) and from the table (a large batch)."""
    odd_keys = ["été", "x" * 300, "tail\x00", "", "naïve café", "日本"]
    keys = [f"w{i}" for i in range(200)] + odd_keys
    vectors = normalize_rows(len(keys), seed=3)
    path = tmp_path / "idx"
    with IndexWriter.create(path, ENCODER, DIM) as writer:
        writer.add([Item(key, "") for key in keys], vectors)
    with IndexWriter.update(path) as writer:
        writer.delete(keys=["w7", "日本"])
    live = [(i, key) for i, key in enumerate(keys) if key not in ("w7", "日本")]
    with Index.open(path) as index:
        first = index.search(vectors, k=5)  # over 1,024 ids: every key is read into memory
        assert index.key_cache._table is not None
        assert [(row[0].id, row[0].key) for row in first if row[0].score > 0.999] == live
        arrays = index.search_arrays(vectors, k=len(keys))
        stored = dict(live)
        for ids, found in zip(arrays.ids, arrays.keys):
            assert [stored.get(int(i)) for i in ids] == list(found)  # None for -1
        single = index.search(vectors[-2], k=3)[0]
        assert single[0].key == "naïve café"
        assert index.search(vectors[-2].tolist(), k=3)[0] == single  # a plain list is a query too
    with Index.open(path) as index:  # a fresh open answers its first query from SQLite
        assert index.search(vectors[201], k=1)[0][0].key == "x" * 300
        assert index.key_cache._table is None


def test_adding_an_existing_key_is_refused(tmp_path):
    path = build(tmp_path / "idx", 5)
    with pytest.raises(InputError, match="already in the index"):
        with IndexWriter.update(path) as writer:
            writer.add(items(1), normalize_rows(1))
    with Index.open(path) as index:
        assert index.count == 5


def test_filter_selects_inside_faiss(tmp_path):
    path = build(tmp_path / "idx", 200)
    with Index.open(path) as index:
        query = normalize_rows(1, seed=3)
        hits = index.search(query, k=10, where="json_extract(metadata, '$.even') = 1")[0]
        assert len(hits) == 10 and all(h.id % 2 == 0 for h in hits)
        even = np.arange(0, 200, 2)
        exact = even[np.argsort(-(index.vectors_of(even) @ query[0]))[:10]]
        assert [h.id for h in hits] == list(exact)


def test_existing_index_needs_overwrite(tmp_path):
    path = build(tmp_path / "idx", 5)
    with pytest.raises(InputError, match="`overwrite=True`"):
        IndexWriter.create(path, ENCODER, DIM)
    with IndexWriter.create(path, ENCODER, DIM, overwrite=True) as writer:
        writer.add(items(3, prefix="other"), normalize_rows(3))
    with Index.open(path) as index:
        assert index.count == 3 and index.get(key="other0") is not None


def test_exception_inside_a_write_leaves_the_previous_version(tmp_path):
    path = build(tmp_path / "idx", 10)
    with pytest.raises(KeyboardInterrupt):
        with IndexWriter.create(path, ENCODER, DIM, overwrite=True) as writer:
            writer.add(items(3, prefix="x"), normalize_rows(3))
            raise KeyboardInterrupt
    with Index.open(path) as index:
        assert index.count == 10 and index.get(key="item9") is not None
    assert not list(path.glob(versions.TMP_PREFIX + "*"))
    # The lock was released: a new writer can start.
    IndexWriter.update(path).abort()


def test_killed_build_leaves_previous_index_usable(tmp_path):
    """A build killed with SIGKILL mid-way: the old version still opens, the next writer cleans up."""
    path = build(tmp_path / "idx", 10)
    script = textwrap.dedent(f"""
        import sys, time, numpy as np
        sys.path.insert(0, {str(os.getcwd())!r})
        from embedsearch.corpus import Item
        from embedsearch.index import EncoderInfo, IndexWriter
        info = EncoderInfo(name="random", kind="test", spec="random", fingerprint="f0")
        writer = IndexWriter.create({str(path)!r}, info, {DIM}, overwrite=True)
        writer.add([Item(f"new{{i}}", "t") for i in range(100)], np.ones((100, {DIM}), np.float32))
        print("writing", flush=True)
        time.sleep(60)
    """)
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "writing"
    with pytest.raises(IndexLockedError, match="being written"):
        IndexWriter.update(path)
    with Index.open(path) as index:  # readers keep answering from the last complete version
        assert index.count == 10
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert list(path.glob(versions.TMP_PREFIX + "*"))  # the half-written version is left behind
    with Index.open(path) as index:
        assert index.count == 10 and index.get(key="new0") is None
    with IndexWriter.update(path) as writer:  # the lock died with its holder
        writer.delete(keys=["item0"])
    assert not list(path.glob(versions.TMP_PREFIX + "*"))
    with Index.open(path) as index:
        assert index.count == 9


def test_interrupted_first_build_is_a_clear_error(tmp_path):
    path = tmp_path / "idx"
    with pytest.raises(RuntimeError):
        with IndexWriter.create(path, ENCODER, DIM) as writer:
            writer.add(items(2), normalize_rows(2))
            raise RuntimeError("boom")
    with pytest.raises(IndexNotFoundError, match="no complete index"):
        Index.open(path)
    with pytest.raises(IndexNotFoundError, match="no index at"):
        Index.open(tmp_path / "never-built")


def test_disagreeing_parts_are_reported(tmp_path):
    path = build(tmp_path / "idx", 10)
    live = versions.current_version(path)
    connection = sqlite3.connect(live / "items.db")
    connection.execute("DELETE FROM items WHERE id = 4")
    connection.commit()
    connection.close()
    with pytest.raises(IndexCorruptError, match="items.db does not match its checksum"):
        Index.open(path)
    manifest = Manifest.read(live)  # checksums that agree with the files: the counts still disagree
    manifest.files = checksums.record(live)
    manifest.write(live)
    with pytest.raises(IndexCorruptError, match="manifest says 10 items, FAISS holds 10, SQLite holds 9"):
        Index.open(path)


def test_truncated_vectors_and_bad_manifest_are_reported(tmp_path):
    path = build(tmp_path / "idx", 10)
    live = versions.current_version(path)
    with open(live / "vectors.f32", "r+b") as handle:
        handle.truncate(100)
    with pytest.raises(IndexCorruptError, match="vectors.f32 holds 100 bytes"):
        Index.open(path)
    (live / "manifest.json").write_text('{"format_version": 99}')
    with pytest.raises(IndexCorruptError, match="upgrade embedsearch"):
        Index.open(path)


def test_old_versions_are_pruned_but_the_previous_one_is_kept(tmp_path):
    path = build(tmp_path / "idx", 4)
    for _ in range(3):
        with IndexWriter.update(path) as writer:
            writer.delete(ids=[writer.manifest.count - 1])
    names = sorted(p.name for p in path.glob("v*"))
    assert names == ["v000003", "v000004"]
    assert (path / "CURRENT").read_text().strip() == "v000004"


def test_faiss_and_torch_share_a_process(tmp_path):
    """Both bring OpenMP: importing both, in either order, must neither crash nor hang."""
    for first, second in (("torch", "faiss"), ("faiss", "torch")):
        code = textwrap.dedent(f"""
            import {first}, {second}, numpy as np
            x = np.random.default_rng(0).normal(size=(2000, 32)).astype('float32')
            index = faiss.IndexFlatIP(32); index.add(x)
            _, ids = index.search(x[:50], 5)
            y = torch.from_numpy(x) @ torch.from_numpy(x).T
            assert (ids[:, 0] == np.arange(50)).all() and y.shape == (2000, 2000)
            print("ok")
        """)
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "ok"


def test_writing_does_not_import_pandas_yet_leaves_it_importable(tmp_path):
    """sqlite-utils would import pandas (0.24-0.48 s measured) on every build where it is installed."""
    pytest.importorskip("pandas")
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        from test_store import build
        build({str(tmp_path / "idx")!r}, 10)
        assert "pandas" not in sys.modules
        import pandas, sqlite_utils
        assert sqlite_utils.db.pd is None and pandas.DataFrame({{"a": [1]}}).shape == (1, 1)
        print("ok")
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_garbled_files_fail_their_checksum_and_old_manifests_still_open(tmp_path):
    path = build(tmp_path / "idx", 10)
    live = versions.current_version(path)
    manifest = Manifest.read(live)
    assert set(manifest.files) == {"items.db", "vectors.f32", "index.faiss"}
    text = (live / "manifest.json").read_text()
    (live / "manifest.json").write_text(text.replace('"count": 10', '"count": 11'))
    with pytest.raises(IndexCorruptError, match="manifest.json does not match its checksum"):
        Index.open(path)
    (live / "manifest.json").write_text(text)
    data = bytearray((live / "vectors.f32").read_bytes())
    data[17] ^= 0xFF  # one flipped byte: same size, other numbers
    (live / "vectors.f32").write_bytes(bytes(data))
    with pytest.raises(IndexCorruptError, match="vectors.f32 does not match its checksum"):
        Index.open(path)
    manifest.files = {}  # a format 1 manifest records no checksums: only the structural checks
    manifest.write(live)
    text = (live / "manifest.json").read_text().replace('"format_version": 2', '"format_version": 1')
    (live / "manifest.json").write_text(text)
    with Index.open(path) as index:
        assert index.count == 10
    (path / "CURRENT").write_text("../../elsewhere\n")
    with pytest.raises(IndexCorruptError, match="does not name a version"):
        Index.open(path)


def tamper(live, change) -> None:
    """Apply `change(manifest)` to a version's manifest and write it back with a valid checksum."""
    manifest = Manifest.read(live)
    change(manifest)
    manifest.write(live)


def test_manifest_files_outside_the_version_are_refused(tmp_path):
    """A manifest naming /etc/passwd (with its true size and CRC), a path into a subfolder, or a
    symbolic link out of the folder (same bytes as the real file) is refused before any read."""
    path = build(tmp_path / "idx", 10)
    live = versions.current_version(path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    record = {"bytes": (outside / "passwd").stat().st_size,
              "crc32": checksums.crc32_of(outside / "passwd")}
    for name in (str(outside / "passwd"), "../../outside/passwd", "sub/items.db"):
        tamper(live, lambda manifest: manifest.files.update({name: record}))
        with pytest.raises(IndexCorruptError, match="not a file of the version folder"):
            Index.open(path)
        tamper(live, lambda manifest: manifest.files.pop(name))
    with Index.open(path) as index:
        assert index.count == 10
    (live / "items.db").rename(outside / "items.db")
    (live / "items.db").symlink_to(outside / "items.db")
    with pytest.raises(IndexCorruptError, match="items.db is a symbolic link"):
        Index.open(path)
    with pytest.raises(IndexCorruptError, match="items.db is a symbolic link"):
        IndexWriter.update(path)
    assert not list(path.glob(versions.TMP_PREFIX + "*"))


def test_files_that_never_end_fail_at_once(tmp_path):
    """Files a read would never finish: a manifest naming `../../../../dev/zero` recorded as 0
    bytes (its size as stat sees it), a format 1 manifest (no checksums) whose FAISS file is a
    link to /dev/zero, CURRENT linked to /dev/zero, a manifest that is a FIFO (opening it blocks
    until a writer comes). A child process opens each and must print one clear error per index
    well within the timeout."""
    indexes = [build(tmp_path / name, 10) for name in ("zero", "faiss", "current", "fifo")]
    live = [versions.current_version(path) for path in indexes]
    zero = "../" * len(live[0].parts) + "dev/zero"
    tamper(live[0], lambda manifest: manifest.files.update({zero: {"bytes": 0, "crc32": 0}}))
    (live[1] / "index.faiss").unlink()
    (live[1] / "index.faiss").symlink_to("/dev/zero")
    tamper(live[1], lambda manifest: manifest.files.clear())
    text = (live[1] / "manifest.json").read_text()
    (live[1] / "manifest.json").write_text(text.replace('"format_version": 2',
                                                        '"format_version": 1'))
    (indexes[2] / "CURRENT").unlink()
    (indexes[2] / "CURRENT").symlink_to("/dev/zero")
    (live[3] / "manifest.json").unlink()
    os.mkfifo(live[3] / "manifest.json")
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {os.getcwd()!r})
        from embedsearch.errors import IndexCorruptError
        from embedsearch.index import Index
        for path in sys.argv[1:]:
            try:
                Index.open(path)
            except IndexCorruptError as error:
                print(error)
    """)
    done = subprocess.run([sys.executable, "-c", code, *map(str, indexes)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert len(lines) == 4, done.stdout
    assert "not a file of the version folder" in lines[0]
    assert "index.faiss is a symbolic link" in lines[1]
    assert "CURRENT is a symbolic link" in lines[2]
    assert "manifest.json is not a regular file" in lines[3]


def test_headers_claiming_more_than_their_file_holds_are_refused(tmp_path):
    """A tombstones.npy header claiming 10**12 ids, and a flat FAISS index whose vector array
    claims 48 GB (checksums recomputed to match each), are an IndexCorruptError, not an
    allocation of the claim: FAISS is read in a child whose address space is capped at 4 GB."""
    path = tmp_path / "idx"
    with IndexWriter.create(path, ENCODER, DIM, index_type="hnsw") as writer:
        writer.add(items(20), normalize_rows(20))
    with IndexWriter.update(path) as writer:
        writer.delete(keys=["item3"])
    live = versions.current_version(path)
    data = (live / "tombstones.npy").read_bytes()
    claimed = data.replace(b"(1,)", b"(1000000000000,)", 1)
    assert claimed != data
    (live / "tombstones.npy").write_bytes(claimed)
    tamper(live, lambda manifest: setattr(manifest, "files", checksums.record(live)))
    with pytest.raises(IndexCorruptError, match="tombstones.npy is missing or unreadable"):
        Index.open(path)

    flat = build(tmp_path / "flat", 10)
    live = versions.current_version(flat)
    data = (live / "index.faiss").read_bytes()
    floats = struct.pack("<Q", 10 * DIM)  # FAISS writes the length of the vector array first
    assert data.count(floats) == 1
    (live / "index.faiss").write_bytes(data.replace(floats, struct.pack("<Q", 12 * 2**30)))
    tamper(live, lambda manifest: setattr(manifest, "files", checksums.record(live)))
    code = textwrap.dedent(f"""
        import resource, sys
        resource.setrlimit(resource.RLIMIT_AS, (4 * 2**30, 4 * 2**30))
        sys.path.insert(0, {os.getcwd()!r})
        from embedsearch.errors import IndexCorruptError
        from embedsearch.index import Index
        for in_memory in (False, True):
            try:
                Index.open({str(flat)!r}, in_memory=in_memory)
            except IndexCorruptError as error:
                print(error)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert len(lines) == 2 and all("cannot read the FAISS index" in line
                                   or "claims more memory" in line for line in lines), lines


def test_file_checksums_are_zlibs_crc32_across_blocks(tmp_path):
    """ISA-L computes the CRC-32 that manifests have always recorded (zlib's), block after block."""
    import zlib

    data = np.random.default_rng(5).integers(0, 256, size=checksums.BLOCK * 2 + 12345,
                                             dtype=np.uint8).tobytes()
    for size in (0, 1, checksums.BLOCK, len(data)):
        (tmp_path / "file").write_bytes(data[:size])
        assert checksums.crc32_of(tmp_path / "file") == zlib.crc32(data[:size])
