"""JSON filters against a Python reference, the SQL sandbox refusing what it must, and the time
limit that stops a filter that would never end (CLI, Python API and sandbox alike)."""

from __future__ import annotations

import hashlib
import json

import pytest
from typer.testing import CliRunner

from embedsearch import query
from embedsearch.cli import app
from embedsearch.encoders import load_encoder
from embedsearch.errors import FilterError
from embedsearch.index import Index
from embedsearch.index import sql_guard
from embedsearch.index.filters import Where, parse_filter, untrusted_sql
from embedsearch.indexing.build import build_corpus_index

LANGS = ("en", "fr", "de")
NEVER_ENDING = "id IN (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c)"


@pytest.fixture(scope="module")
def corpus_index(tmp_path_factory, vectors_file):
    folder = tmp_path_factory.mktemp("filters")
    lines = []
    words = ["king", "queen", "river", "bank", "money", "computer", "bread", "castle"]
    for number in range(40):
        record = {"id": f"doc{number}", "text": f"{words[number % 8]} and {words[(number * 3) % 8]}",
                  "year": 2000 + number % 10, "lang": LANGS[number % 3]}
        if number % 4 == 0:
            record["tags"] = {"draft": number % 8 == 0}
        lines.append(json.dumps(record))
    (folder / "docs.jsonl").write_text("\n".join(lines) + "\n")
    path = folder / "docs"
    build_corpus_index(folder / "docs.jsonl", load_encoder(str(vectors_file)), path, key_field="id",
                       show_progress=False)
    return path


def rows_of(path) -> list[dict]:
    with Index.open(path) as index:
        return [row for batch in index.items.iter_rows() for row in batch]


FILTERS = [
    ({"lang": "en"}, lambda r: r["metadata"]["lang"] == "en"),
    ({"year": {"$gte": 2003, "$lt": 2007}}, lambda r: 2003 <= r["metadata"]["year"] < 2007),
    ({"lang": {"$in": ["fr", "de"]}}, lambda r: r["metadata"]["lang"] in ("fr", "de")),
    ({"lang": {"$nin": ["fr", "de"]}}, lambda r: r["metadata"]["lang"] not in ("fr", "de")),
    ({"$or": [{"lang": "de"}, {"year": 2001}]},
     lambda r: r["metadata"]["lang"] == "de" or r["metadata"]["year"] == 2001),
    ({"$not": {"lang": "en"}, "year": {"$ne": 2002}},
     lambda r: r["metadata"]["lang"] != "en" and r["metadata"]["year"] != 2002),
    ({"$and": [{"key": {"$gt": "doc2"}}, {"text": {"$contains": "bank"}}]},
     lambda r: r["key"] > "doc2" and "bank" in r["text"]),
    ({"tags.draft": True}, lambda r: r["metadata"].get("tags", {}).get("draft") is True),
    ({"metadata.tags": None}, lambda r: "tags" not in r["metadata"]),
    ({"position": {"$lte": 5}, "source": {"$contains": "docs"}}, lambda r: r["position"] <= 5),
]


@pytest.mark.parametrize("spec, keep", FILTERS, ids=[json.dumps(f) for f, _ in FILTERS])
def test_json_filter_selects_what_python_selects(corpus_index, spec, keep):
    expected = sorted(r["id"] for r in rows_of(corpus_index) if keep(r))
    with Index.open(corpus_index) as index:
        assert sorted(index.ids_where(parse_filter(spec)).tolist()) == expected
        assert sorted(index.ids_where(parse_filter(json.dumps(spec))).tolist()) == expected


def test_json_filter_values_are_bound_never_spliced(corpus_index):
    where = parse_filter({"lang": "en' OR '1'='1"})
    assert "OR" not in where.sql
    with Index.open(corpus_index) as index:
        assert len(index.ids_where(where)) == 0


@pytest.mark.parametrize("spec, message", [
    ('{"lang": ', "not valid JSON"),
    ("[1, 2]", "non-empty JSON object"),
    ({"lang": {"$like": "e%"}}, "unknown operator '$like'"),
    ({"$xor": []}, "unknown filter operator"),
    ({"bad field!": 1}, "bad filter field"),
    ({"lang": {"$in": []}}, "$in"),
    ({"lang": {"$eq": [1]}}, "compares with a string"),
    ({"$or": {}}, "non-empty list"),
])
def test_bad_json_filters_say_what_is_wrong(spec, message):
    with pytest.raises(FilterError, match=message.replace("$", r"\$").replace("[", r"\[")):
        parse_filter(spec)


def test_filtered_neighbours_only_return_matching_items(corpus_index):
    with Index.open(corpus_index) as index:
        hits = query.neighbors(index, "money", k=40, where=parse_filter({"lang": "fr"}))
        reference = query.neighbors(index, "money", k=40, where="json_extract(metadata, '$.lang') = 'fr'")
        assert [h.key for h in hits] == [h.key for h in reference]
        allowed = set(index.ids_where(parse_filter({"lang": "fr"})).tolist())
        assert hits and {h.id for h in hits} <= allowed


def _fingerprint(path) -> str:
    with Index.open(path) as index:
        return hashlib.sha256((index.version_dir / "items.db").read_bytes()).hexdigest()


FORBIDDEN = [
    ("id IN (SELECT rootpage FROM sqlite_master)", "reading sqlite_master"),
    ("id IN (SELECT cid FROM pragma_table_info('items'))", ""),
    ("load_extension('/tmp/evil.so') IS NULL", "load_extension"),
    ("length(randomblob(1000000000)) > 0", "randomblob"),
    ("sqlite_version() > ''", "sqlite_version"),
    (NEVER_ENDING, "RECURSIVE"),
    ("1; ATTACH DATABASE '{tmp}/stolen.db' AS stolen", ""),
    ("1; DELETE FROM items", ""),
    ("1) OR (SELECT writefile('{tmp}/x', 'y')", "writefile"),
]


@pytest.mark.parametrize("sql, named", FORBIDDEN, ids=[s for s, _ in FORBIDDEN])
def test_sandbox_refuses_everything_but_reading_items(corpus_index, tmp_path, sql, named):
    before = _fingerprint(corpus_index)
    with Index.open(corpus_index) as index:
        with pytest.raises(FilterError) as refused:
            index.ids_where(untrusted_sql(sql.format(tmp=tmp_path), time_limit=1.0))
        assert named in str(refused.value)
        count = index.count
    assert _fingerprint(corpus_index) == before
    assert not list(tmp_path.iterdir())
    with Index.open(corpus_index) as index:
        assert index.count == count


def test_sandbox_allows_plain_conditions(corpus_index):
    sql = "json_extract(metadata, '$.lang') = 'en' AND lower(key) LIKE 'doc1%'"
    with Index.open(corpus_index) as index:
        assert sorted(index.ids_where(untrusted_sql(sql)).tolist()) == \
            sorted(index.ids_where(sql).tolist())


def test_sandbox_time_limit_stops_a_huge_self_join(corpus_index):
    sql = ("id IN (SELECT a.id FROM items a, items b, items c, items d, items e "
           "WHERE a.text || b.text || c.text || d.text || e.text = 'never')")
    with Index.open(corpus_index) as index, pytest.raises(sql_guard.FilterTimeoutError):
        index.ids_where(untrusted_sql(sql, time_limit=0.3))


def test_python_api_filter_time_limit(corpus_index):
    with Index.open(corpus_index) as index, pytest.raises(FilterError, match="longer than 0.3 s"):
        query.neighbors(index, "money", where=Where(NEVER_ENDING, time_limit=0.3))


def test_cli_where_that_never_ends_stops_with_a_message(corpus_index, monkeypatch):
    monkeypatch.setattr(sql_guard, "DEFAULT_TIME_LIMIT", 0.3)
    result = CliRunner().invoke(app, ["neighbors", "money", "--index", str(corpus_index),
                                      "--where", NEVER_ENDING])
    assert result.exit_code != 0
    assert "ran longer than 0.3 s and was stopped" in str(result.exception or result.output)


def test_cli_json_filter(corpus_index):
    result = CliRunner().invoke(app, ["neighbors", "money", "--index", str(corpus_index), "-k", "40",
                                      "--filter", '{"lang": "de"}', "--json"])
    assert result.exit_code == 0, result.output
    hits = json.loads(result.output)["hits"]
    assert hits and all(hit["metadata"]["lang"] == "de" for hit in hits)
