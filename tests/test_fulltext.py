"""The full-text index: exact through every write path, safe queries, BM25 against a reference."""

from __future__ import annotations

import math
import sqlite3
from collections import Counter

import numpy as np
import pytest

from embedsearch.corpus import Item
from embedsearch.errors import InputError
from embedsearch.index import Index, IndexWriter
from embedsearch.index.bm25_impacts import FOLDER, Bm25Impacts
from embedsearch.index.fulltext import (FTS_TABLE, check_fulltext, has_fulltext, keyword_search,
                                        match_expression, phrase_tokens)
from embedsearch.index import checksums
from embedsearch.index.manifest import EncoderInfo, Manifest
from embedsearch.indexing.add import add_corpus, upsert_items
from embedsearch.indexing.build import build_corpus_index, build_vocabulary_index
from embedsearch.indexing.maintenance import compact, delete_keys, reindex
from embedsearch.query import neighbors
from embedsearch.query.search import keyword_impacts
from embedsearch.vectors import normalize_rows

WORDS = ("fish sea boat wave bird sky cloud land king queen royal palace crown rules swim fly "
         "river tree stone wind").split()
# Queries for the impact matrix against FTS5: single words, stems, repeats, words in every row
# or in half the rows (IDF floored), words FTS5 splits ("fish_sea") or drops ("_"), unknown ones.
QUERIES = ["fish", "king queen", "stone wind wave", "sky", "the fish", "the", "the of",
           "of sea", "fishes fish fishing", "crown crown", "fish_sea", "_ bird", "zebra",
           "zebra the", "a fish and the sea"]
ENCODER = EncoderInfo(name="test", kind="test", spec="test", fingerprint="0")


@pytest.fixture
def vectors_file(tmp_path):
    rows = np.random.default_rng(0).normal(size=(len(WORDS), 8))
    path = tmp_path / "tiny.txt"
    path.write_text("".join(f"{w} {' '.join(f'{v:.5f}' for v in row)}\n"
                            for w, row in zip(WORDS, rows)))
    return path


def sentences(count: int, seed: int = 0) -> list[str]:
    """Random sentences of WORDS; "the" in three rows of four, "of" in every other row."""
    rng = np.random.default_rng(seed)
    return [" ".join(list(rng.choice(WORDS, size=rng.integers(2, 9)))
                     + ["the"] * (i % 4 != 0) + ["of"] * (i % 2)) for i in range(count)]


def assert_exact(index_path) -> None:
    """The full-text index holds exactly the live rows' text (FTS5's own check, and a search)."""
    with Index.open(index_path) as index:
        connection = index.items.connection
        assert has_fulltext(connection)
        copy = sqlite3.connect(":memory:")
        connection.backup(copy)
        check_fulltext(copy)  # raises if any row's tokens differ from the index
        texts = dict(connection.execute("SELECT id, text FROM items"))
        for word in ("fish", "crown"):
            expected = {i for i, text in texts.items() if word in text.split()}
            found = {i for i, _ in keyword_search(connection, word, 10_000)}
            assert found == expected
        assert_impacts_agree(index)


def assert_same_top_k(found, reference, k) -> None:
    """`found` is a top k of `reference` (FTS5's whole ranking): the same scores in the same
    order (exactly: the same arithmetic), each id carrying its own score (ties may swap)."""
    everything = dict(reference)
    assert [score for _, score in found] == [score for _, score in reference[:k]]
    assert all(everything[item] == score for item, score in found)


def assert_impacts_agree(index, where=None) -> None:
    """The impact matrix answers every query as FTS5's bm25 ranking, with and without a filter."""
    impacts = keyword_impacts(index)
    assert impacts is not None
    connection = index.items.connection
    allowed = None if where is None else index.ids_where(where)
    for query in QUERIES:
        reference = keyword_search(connection, query, 100_000, allowed)
        for k in (1, 5, 40, 100_000):
            assert_same_top_k(keyword_search(connection, query, k, allowed, impacts), reference, k)


def random_items(start, count, seed=0):
    return [Item(f"k{i}", text, "test", i) for i, text in zip(range(start, start + count),
                                                              sentences(count, seed))]


def random_vectors(count, seed=0):
    return normalize_rows(np.random.default_rng(seed).normal(size=(count, 8)).astype(np.float32))


@pytest.mark.parametrize("index_type", ["flat", "hnsw"])
def test_every_write_path_keeps_the_fulltext_index_exact(tmp_path, index_type):
    path = tmp_path / "idx"
    with IndexWriter.create(path, ENCODER, 8, index_type=index_type) as writer:
        writer.add(random_items(0, 300), random_vectors(300))
    assert_exact(path)
    with IndexWriter.update(path) as writer:  # add, upsert (in place and moved), delete
        writer.add(random_items(300, 50, seed=1), random_vectors(50, seed=1))
        writer.upsert(random_items(100, 80, seed=2), random_vectors(80, seed=2))
        writer.delete(keys=[f"k{i}" for i in range(0, 60, 3)])
    assert_exact(path)
    delete_keys(path, ["k1", "k2", "missing"])
    assert_exact(path)
    compact(path)
    assert_exact(path)
    reindex(path, "flat" if index_type == "hnsw" else "hnsw")
    assert_exact(path)


def test_build_add_prune_and_rebuild_keep_it_exact(tmp_path, vectors_file):
    from embedsearch.encoders import load_encoder
    from embedsearch.indexing.rebuild import rebuild_index

    corpus = tmp_path / "notes.txt"
    corpus.write_text("\n".join(sentences(200)) + "\n")
    encoder = load_encoder(str(vectors_file))
    build_corpus_index(corpus, encoder, tmp_path / "idx", show_progress=False)
    assert_exact(tmp_path / "idx")
    corpus.write_text("\n".join(sentences(150, seed=5)) + "\n")
    add_corpus(tmp_path / "idx", corpus, prune=True, show_progress=False)
    assert_exact(tmp_path / "idx")
    upsert_items(tmp_path / "idx", [Item("new", "royal palace by the river"),
                                    Item("notes.txt:3", "a changed line about stone")])
    assert_exact(tmp_path / "idx")
    vectors_file.write_text(vectors_file.read_text().replace("fish 0", "fish 1"))
    rebuild_index(tmp_path / "idx", encoder=load_encoder(str(vectors_file)), show_progress=False)
    assert_exact(tmp_path / "idx")


def test_an_index_without_fulltext_opens_and_says_how_to_get_one(tmp_path, vectors_file):
    from embedsearch.encoders import load_encoder

    corpus = tmp_path / "notes.txt"
    corpus.write_text("\n".join(sentences(50)) + "\n")
    build_corpus_index(corpus, load_encoder(str(vectors_file)), tmp_path / "idx",
                       show_progress=False)
    with Index.open(tmp_path / "idx") as index:  # make it look like an older index
        version = index.version_dir
    items = version / "items.db"
    connection = sqlite3.connect(items)
    connection.executescript(f"DROP TABLE {FTS_TABLE}; DROP TRIGGER items_fts_insert; "
                             "DROP TRIGGER items_fts_delete; DROP TRIGGER items_fts_update;")
    connection.commit()
    connection.close()
    manifest = Manifest.read(version)
    manifest.files = checksums.record(version)
    manifest.write(version)
    with Index.open(tmp_path / "idx") as index:
        assert neighbors(index, "fish sea", k=3).search["mode"] == "vector"
        with pytest.raises(InputError, match="compact"):
            neighbors(index, "fish sea", k=3, mode="keyword")
    compact(tmp_path / "idx")
    assert_exact(tmp_path / "idx")


def test_a_vocabulary_index_has_no_fulltext_and_refuses_keyword(tmp_path, glove_slice):
    build_vocabulary_index(glove_slice, tmp_path / "words", show_progress=False)
    with Index.open(tmp_path / "words") as index:
        assert not has_fulltext(index.items.connection)
        assert neighbors(index, "computer", k=3)[0].key == "computers"
        with pytest.raises(InputError, match="word vectors, not texts"):
            neighbors(index, "computer", k=3, mode="keyword")


@pytest.mark.parametrize("text", ['"unclosed', "NEAR(fish sea)", "fish AND OR NOT", "a* ^b -c",
                                  "col:fish", "((", "'; DROP TABLE items; --", "", "   ", "…!?"])
def test_user_text_never_reaches_fts5_as_syntax(tmp_path, text):
    connection = sqlite3.connect(":memory:")
    connection.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, key TEXT, text TEXT)")
    from embedsearch.index.fulltext import ensure_fulltext

    ensure_fulltext(connection)
    connection.executemany("INSERT INTO items VALUES (?, ?, ?)",
                           [(1, "a", "fish and sea"), (2, "b", "near the palace")])
    found = keyword_search(connection, text, 10)
    words = set(match_expression(text).replace('"', "").split(" OR ")) if match_expression(text) \
        else set()
    assert {i for i, _ in found} == {i for i, t in [(1, "fish and sea"), (2, "near the palace")]
                                     if words & set(t.split())}


def test_filters_apply_inside_the_keyword_search(tmp_path):
    path = tmp_path / "idx"
    items = [Item(f"k{i}", "fish sea" if i % 2 else "fish", "test", i, {"even": i % 2 == 0})
             for i in range(200)]
    with IndexWriter.create(path, ENCODER, 8) as writer:
        writer.add(items, random_vectors(200))
    with Index.open(path) as index:
        hits = neighbors(index, "fish sea", k=30, mode="keyword", chunks=True,
                         where="json_extract(metadata, '$.even') = 1")
        assert len(hits) == 30 and all(int(h.key[1:]) % 2 == 0 for h in hits)


def reference_bm25(documents: list[list[str]], query: list[str], k1=1.2, b=0.75) -> np.ndarray:
    """Okapi BM25 with FTS5's IDF, log((N - n + 0.5) / (n + 0.5)), floored at 1e-6."""
    count = len(documents)
    average = sum(map(len, documents)) / count
    frequency = Counter(word for document in documents for word in set(document))
    scores = np.zeros(count)
    for word in set(query):
        n = frequency.get(word, 0)
        if not n:
            continue
        idf = max(math.log((count - n + 0.5) / (n + 0.5)), 1e-6)
        for position, document in enumerate(documents):
            tf = document.count(word)
            scores[position] += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(document) / average))
    return scores


def test_bm25_scores_equal_a_hand_written_okapi_bm25(tmp_path):
    texts = sentences(400, seed=3)
    path = tmp_path / "idx"
    with IndexWriter.create(path, ENCODER, 8) as writer:
        writer.add([Item(f"k{i}", t) for i, t in enumerate(texts)], random_vectors(400))
    documents = [t.split() for t in texts]
    with Index.open(path) as index:
        for query in ("fish", "king queen", "stone wind wave", "sky"):
            found = keyword_search(index.items.connection, query, 400)
            expected = reference_bm25(documents, query.split())
            for item, score in found:
                assert score == pytest.approx(expected[item], rel=1e-6, abs=1e-6)
            assert {i for i, _ in found} == set(np.flatnonzero(expected > 0))


def test_phrase_tokens_are_fts5s_own():
    assert phrase_tokens("Running") == ("run",)
    assert phrase_tokens("Café") == ("cafe",)
    assert phrase_tokens("fish_sea") == ("fish", "sea")  # one Python word, two FTS5 tokens
    assert phrase_tokens("_") == ()


def test_impacts_agree_with_fts5_inside_filters(tmp_path):
    path = tmp_path / "idx"
    texts = sentences(500, seed=4)
    with IndexWriter.create(path, ENCODER, 8) as writer:
        writer.add([Item(f"k{i}", t, "test", i, {"even": i % 2 == 0, "tenth": i % 10 == 0})
                    for i, t in enumerate(texts)], random_vectors(500))
    with Index.open(path) as index:
        for where in ("json_extract(metadata, '$.even') = 1",
                      "json_extract(metadata, '$.tenth') = 1", "id < 0"):
            assert_impacts_agree(index, where)
        impacts, connection = keyword_impacts(index), index.items.connection
        for allowed in ([10**6, 7, 3, -5, 498, 7], []):  # unsorted, repeated, unknown ids
            for query in QUERIES:
                assert_same_top_k(keyword_search(connection, query, 3, allowed, impacts),
                                  keyword_search(connection, query, 10**6, allowed), 3)
        hits = neighbors(index, "the fish", k=20, mode="keyword", chunks=True,
                         where="json_extract(metadata, '$.tenth') = 1")
        assert len(hits) == 20 and all(int(h.key[1:]) % 10 == 0 for h in hits)


def test_impacts_are_cached_in_the_version_and_remade_when_not_theirs(tmp_path):
    path = tmp_path / "idx"
    with IndexWriter.create(path, ENCODER, 8) as writer:
        writer.add(random_items(0, 200), random_vectors(200))
    import shutil

    with Index.open(path) as index:
        folder = index.version_dir / FOLDER
        assert (folder / "meta.json").exists()  # made at commit
        shutil.rmtree(folder)  # as an index written before the matrix was made at commit
        abandoned = index.version_dir / f"{FOLDER}.tmp-999999999-1"  # its writer was killed
        abandoned.mkdir()
        impacts = keyword_impacts(index)  # made at the first keyword query, then saved
        made = (folder / "meta.json").stat().st_mtime_ns
        assert not abandoned.exists()
    with Index.open(path) as index:
        assert isinstance(keyword_impacts(index).segments[0].positions.base,
                          np.memmap)  # read back, not remade
        assert (folder / "meta.json").stat().st_mtime_ns == made
        assert_impacts_agree(index)
        crc = index.manifest.files["items.db"]["crc32"]
    # A folder made from another database (a copied folder, an old format) is not used.
    other = Bm25Impacts.open(index.version_dir, index.version_dir / "items.db",
                             impacts.tokenizer, crc + 1)
    assert not isinstance(other.segments[0].positions.base, np.memmap)
    # Where the folder cannot be written (here a file is in the way): made in memory, the same
    # answers, nothing left behind.
    shutil.rmtree(folder)
    folder.write_text("in the way")
    with Index.open(path) as index:
        assert not isinstance(keyword_impacts(index).segments[0].positions.base, np.memmap)
        assert_impacts_agree(index)
    assert sorted(p.name for p in index.version_dir.iterdir() if "keyword" in p.name) == [FOLDER]


def test_a_damaged_matrix_leaves_the_answers_to_fts5(tmp_path):
    path = tmp_path / "idx"
    with IndexWriter.create(path, ENCODER, 8) as writer:
        writer.add(random_items(0, 200), random_vectors(200))
    with Index.open(path) as index:
        keyword_impacts(index)
        positions = index.version_dir / FOLDER / "s000001" / "positions.npy"
    damaged = np.load(positions)
    damaged[:] = np.iinfo(np.uint32).max  # every posting points past the last item
    np.save(positions, damaged)
    with Index.open(path) as index:
        impacts, connection = keyword_impacts(index), index.items.connection
        assert isinstance(impacts.segments[0].positions.base, np.memmap)
        for query in QUERIES:
            assert_same_top_k(keyword_search(connection, query, 5, None, impacts),
                              keyword_search(connection, query, 10**6), 5)


def test_a_large_version_without_a_matrix_answers_from_fts5_and_makes_it_in_the_background(
        tmp_path, monkeypatch):
    import shutil

    from embedsearch.index import bm25_impacts
    from embedsearch.query import search as search_module

    path = tmp_path / "idx"
    with IndexWriter.create(path, ENCODER, 8) as writer:
        writer.add(random_items(0, 300), random_vectors(300))
    monkeypatch.setattr(search_module, "INLINE_BUILD_ITEMS", 100)  # 300 items: "large"
    with Index.open(path) as index:
        shutil.rmtree(index.version_dir / FOLDER, ignore_errors=True)
        assert keyword_impacts(index) is None  # not waited for: FTS5 answers meanwhile
        connection = index.items.connection
        for query in QUERIES:
            assert_same_top_k(keyword_search(connection, query, 5, None, keyword_impacts(index)),
                              keyword_search(connection, query, 10**6), 5)
        bm25_impacts.wait_for_builders()
        assert (index.version_dir / FOLDER / "meta.json").exists()  # made once, then saved
        assert keyword_impacts(index) is not None
        assert_impacts_agree(index)
    # The version removed while its matrix is made: the builder gives up quietly.
    with Index.open(path) as index:
        shutil.rmtree(index.version_dir / FOLDER)
        keyword_impacts(index)
        shutil.rmtree(index.version_dir, ignore_errors=True)  # racing the builder's writes
        bm25_impacts.wait_for_builders()
        shutil.rmtree(index.version_dir, ignore_errors=True)
        assert not index.version_dir.exists()


def keyword_meta(index) -> dict:
    import json

    return json.loads((index.version_dir / FOLDER / "meta.json").read_text())


def distinct_postings(index, ids) -> int:
    """(term, item) pairs of `ids` in the version's FTS5 index: what a segment of them holds."""
    connection = index.items.connection
    connection.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.instances "
                       "USING fts5vocab(main, items_fts, instance)")
    marks = ",".join("?" * len(ids))
    return connection.execute(f"SELECT count(*) FROM (SELECT DISTINCT term, doc FROM instances "
                              f"WHERE doc IN ({marks}))", [int(i) for i in ids]).fetchone()[0]


def test_a_write_makes_only_a_segment_of_what_it_changed(tmp_path):
    import os
    import shutil

    path = tmp_path / "idx"
    with IndexWriter.create(path, ENCODER, 8) as writer:
        writer.add(random_items(0, 300), random_vectors(300))
    with Index.open(path) as index:
        first = index.version_dir / FOLDER / "s000001"
        assert keyword_meta(index)["segments"] == ["s000001"]
    with IndexWriter.update(path) as writer:
        added = writer.add(random_items(300, 5, seed=7), random_vectors(5, seed=7))
    with Index.open(path) as index:
        folder = index.version_dir / FOLDER
        assert keyword_meta(index)["segments"] == ["s000001", "s000002"]
        # The old segment is linked, not made again; the new one holds the 5 items only.
        assert (folder / "s000001" / "positions.npy").stat().st_ino \
            == (first / "positions.npy").stat().st_ino
        segment = keyword_impacts(index).segments[1]
        assert segment.rowids.tolist() == added.tolist()
        assert len(segment.positions) == distinct_postings(index, added)
        assert_impacts_agree(index)
    with IndexWriter.update(path) as writer:  # replace 3 in place, delete 4
        replaced = writer.upsert(random_items(10, 3, seed=8), random_vectors(3, seed=8))
        assert writer.delete(keys=["k20", "k21", "k22", "k302"]) == 4
    with Index.open(path) as index:
        assert keyword_meta(index)["segments"] == ["s000001", "s000002", "s000003"]
        impacts = keyword_impacts(index)
        old, small, new = impacts.segments
        assert old.rowids[old.dead].tolist() == [10, 11, 12, 20, 21, 22]
        assert small.rowids[small.dead].tolist() == [302]
        assert new.rowids.tolist() == sorted(replaced.tolist())
        assert len(new.positions) == distinct_postings(index, replaced)
        assert_impacts_agree(index)
        assert_impacts_agree(index, "id % 2 = 0")
        current = index.version_dir
    # Every older version removed: the current one keeps its own links to the segments.
    for old_version in path.glob("v*"):
        if old_version != current:
            shutil.rmtree(old_version)
    assert sorted(os.listdir(path / current.name / FOLDER)) == [
        "meta.json", "s000001", "s000002", "s000003"]
    with Index.open(path) as index:
        assert keyword_meta(index)["segments"] == ["s000001", "s000002", "s000003"]
        assert_impacts_agree(index)


def test_segments_are_merged_when_many_and_made_whole_when_mostly_dead(tmp_path, monkeypatch):
    from embedsearch.index import bm25_segments

    monkeypatch.setattr(bm25_segments, "MAX_SEGMENTS", 3)
    path = tmp_path / "idx"
    with IndexWriter.create(path, ENCODER, 8) as writer:
        writer.add(random_items(0, 200), random_vectors(200))
    for write in range(4):
        start = 200 + 10 * write
        with IndexWriter.update(path) as writer:
            writer.add(random_items(start, 10, seed=write), random_vectors(10, seed=write))
            writer.delete(keys=[f"k{start - 5}"])
        with Index.open(path) as index:
            assert len(keyword_meta(index)["segments"]) <= 3
            assert keyword_impacts(index).segments[0].name == "s000001"
            assert_impacts_agree(index)
    delete_keys(path, [f"k{i}" for i in range(0, 200, 3)])  # a third of the items: made whole
    with Index.open(path) as index:
        assert len(keyword_meta(index)["segments"]) == 1
        assert not len(keyword_impacts(index).segments[0].dead)
        assert_impacts_agree(index)



@pytest.mark.parametrize("sparse", [False, True])
def test_a_whole_versions_segment_is_fts5s_postings(tmp_path, sparse):
    """The segment read from FTS5's index holds exactly its (term, item, tf), found by FTS5's
    own instance table, with ids consecutive (a table lookup) or far apart (binary search)."""
    from embedsearch.index import bm25_segments

    path = tmp_path / "idx"
    items = random_items(0, 400) + [Item("accents", "Crème brûlée café naïve Ærø", "test", 0)]
    with IndexWriter.create(path, ENCODER, 8) as writer:
        writer.add(items, random_vectors(len(items)))
    if sparse:
        with IndexWriter.update(path) as writer:
            writer.delete(keys=[f"k{i}" for i in range(400) if i % 9])
    with Index.open(path) as index:
        connection = index.items.connection
        connection.execute("CREATE VIRTUAL TABLE temp.every_token "
                           "USING fts5vocab(main, items_fts, instance)")
        expected = {}
        for term, item, tf in connection.execute(
                "SELECT term, doc, count(*) FROM temp.every_token GROUP BY term, doc"):
            expected.setdefault(term, {})[item] = tf
        segment = bm25_segments.whole_version(index.version_dir / "items.db").segments[0]
    assert segment.terms == sorted(expected, key=lambda term: term.encode())
    found = {term: {int(segment.rowids[place]): int(tf) for place, tf in zip(
                 segment.positions[start:end], segment.frequencies[start:end])}
             for term, start, end in zip(segment.terms, segment.indptr, segment.indptr[1:])}
    assert found == expected
    assert segment.lengths.sum() == sum(sum(items.values()) for items in expected.values())


def test_a_commit_that_fails_while_its_matrix_is_made_publishes_nothing(tmp_path, monkeypatch):
    """The matrix is made in a thread during the commit; a commit that fails meanwhile leaves
    the live version, its matrix and the folder as they were, and the next write succeeds."""
    from embedsearch.index import writer as store

    path = tmp_path / "idx"
    with IndexWriter.create(path, ENCODER, 8) as writer:
        writer.add(random_items(0, 300), random_vectors(300))
    before = sorted(p.name for p in path.iterdir())

    def fail(version_dir):
        raise OSError("disk full")

    monkeypatch.setattr(store.checksums, "record", fail)
    with pytest.raises(OSError, match="disk full"):
        with IndexWriter.update(path) as writer:
            writer.add(random_items(300, 20, seed=3), random_vectors(20, seed=3))
    monkeypatch.undo()
    assert sorted(p.name for p in path.iterdir()) == before
    with Index.open(path) as index:
        assert index.count == 300
        assert_impacts_agree(index)
    with IndexWriter.update(path) as writer:
        writer.add(random_items(300, 20, seed=3), random_vectors(20, seed=3))
    assert_exact(path)
