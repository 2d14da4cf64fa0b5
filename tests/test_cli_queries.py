"""The CLI as a user lives in it: options checked before work, no silent wrong answers, batch use.

Answers are compared with the Python API and with gensim on the same vectors;
the one-line-error, Ctrl-C and timing checks run real `python -m embedsearch`
processes.
"""

from __future__ import annotations

import ast
import csv
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from embedsearch import query
from embedsearch.cli import app
from embedsearch.cli.batch import BLOCK_LINES
from embedsearch.cli.errors import cli_message
from embedsearch.corpus import tokenize
from embedsearch.distributed.session import RAY_MISSING
from embedsearch.errors import IndexNotFoundError, InputError, UnknownWordsError
from embedsearch.index import Index, resolve_index_path
from embedsearch.index.paths import indexes_home

runner = CliRunner()


def cli(*args, cwd, home, input=None, timeout=120):
    env = {**os.environ, "EMBEDSEARCH_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "embedsearch", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=timeout, input=input)


def one_line_error(result, *fragments, code=1):
    assert result.returncode == code, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def words_file(glove_slice, tmp_path_factory):
    """The 2,000 most frequent words as a GloVe text file: a small encoder to build with."""
    path = tmp_path_factory.mktemp("vectors") / "small.txt"
    with open(path, "w") as handle:
        for word, vector in zip(glove_slice.words[:2000], glove_slice.vectors[:2000]):
            handle.write(word + " " + " ".join(f"{v:.5f}" for v in vector) + "\n")
    return path


def invoke(*args, input=None):
    result = runner.invoke(app, [str(a) for a in args], input=input)
    assert result.exit_code == 0, result.output
    return result


# -- validation before work -------------------------------------------------------

def test_bad_index_parameters_fail_in_milliseconds(words_file, tmp_path):
    home = tmp_path / "home"
    for param, fragment in [("M=-3", "out of range"), ("M=abc", "whole number"),
                            ("foo=1", "valid: M, efConstruction, efSearch")]:
        result = cli("build", "--vectors", words_file, "--out", "x", "--index-type", "hnsw",
                     "--param", param, cwd=tmp_path, home=home)
        one_line_error(result, fragment)
        assert not home.exists() or not any(home.iterdir())  # refused before anything is written
    one_line_error(cli("build", "--vectors", words_file, "--out", "x", "--param", "nlist=4",
                       cwd=tmp_path, home=home), "flat", "valid: none")
    one_line_error(cli("build", "--vectors", words_file, "--out", "x", "--recall", "1.5",
                       cwd=tmp_path, home=home), "--recall must be in")
    one_line_error(cli("build", "--vectors", words_file, "--out", "x", "--unit", "page",
                       cwd=tmp_path, home=home), "--unit", code=2)
    assert not (home / "x").exists()


def test_outputs_that_are_not_indexes_are_refused(words_file, tmp_path):
    home = tmp_path / "home"
    (tmp_path / "taken.txt").write_text("a file\n")
    one_line_error(cli("build", "--vectors", words_file, "--out", "./taken.txt",
                       cwd=tmp_path, home=home), "is a file")
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "keep.md").write_text("my notes\n")
    one_line_error(cli("build", "--vectors", words_file, "--out", "./mine", "--overwrite",
                       cwd=tmp_path, home=home), "not an index")
    assert sorted(p.name for p in folder.iterdir()) == ["keep.md"]
    with pytest.raises(IndexNotFoundError, match="not an index"):
        Index.open(folder)
    one_line_error(cli("info", "./mine", cwd=tmp_path, home=home), "not an index")


def test_a_bare_name_always_means_the_indexes_home(words_file, tmp_path, monkeypatch):
    home = tmp_path / "home"
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "a.txt").write_text("the king and the queen\nstocks fell\n")
    result = cli("build", "--corpus", "notes/", "--encoder", words_file, "--out", "notes",
                 cwd=tmp_path, home=home)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in notes.iterdir()) == ["a.txt"]  # the corpus folder is untouched
    assert (home / "notes" / "CURRENT").exists()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EMBEDSEARCH_HOME", str(home))
    assert resolve_index_path("notes") == indexes_home() / "notes"
    assert resolve_index_path("./notes") == notes.relative_to(tmp_path)


def test_corpus_fields_and_binary_files(words_file, tmp_path):
    home = tmp_path / "home"
    records = tmp_path / "r.jsonl"
    records.write_text(json.dumps({"id": 1, "body": "the king"}) + "\n")
    line = one_line_error(cli("build", "--corpus", records, "--encoder", words_file, "--out", "r",
                              cwd=tmp_path, home=home), "'text'", "body, id")
    assert "--text-field" in line
    one_line_error(cli("build", "--corpus", records, "--encoder", words_file, "--out", "r",
                       "--text-field", "body", "--key-field", "key", cwd=tmp_path, home=home),
                   "'key'", "--key-field")
    binary = tmp_path / "photo.txt"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    one_line_error(cli("build", "--corpus", binary, "--encoder", words_file, "--out", "b",
                       cwd=tmp_path, home=home), "binary file")


def test_library_errors_name_arguments_and_the_cli_names_options():
    assert cli_message("replace it with `overwrite=True`") == "replace it with --overwrite"
    assert cli_message("or use `doc_field='source'`") == "or use --doc-field source"
    assert cli_message("`recall` must be in (0, 1]") == "--recall must be in (0, 1]"
    assert cli_message("run `git status` first") == "run `git status` first"
    assert cli_message(RAY_MISSING).endswith("(or build without --ray)")


def test_layers_below_the_interfaces_raise_no_cli_flags():
    """A Python caller or an HTTP client never typed `--foo`: errors name the argument."""
    flag = re.compile(r"(?<![\w-])--[a-z][a-z-]*")
    quoted = re.compile(r"`[^`]*`")  # a shell command in backticks may have flags
    package = Path(__file__).resolve().parent.parent / "embedsearch"
    found = []
    for path in sorted(package.rglob("*.py")):
        if path.relative_to(package).parts[0] in ("cli", "server"):
            continue
        tree = ast.parse(path.read_text())
        constants = [node for raised in ast.walk(tree)
                     if isinstance(raised, ast.Raise) or (isinstance(raised, ast.Assign) and any(
                         isinstance(target, ast.Name) and target.id.isupper()
                         for target in raised.targets))
                     for node in ast.walk(raised) if isinstance(node, ast.Constant)]
        found += [f"{path.relative_to(package)}:{node.lineno}: {node.value}" for node in constants
                  if isinstance(node.value, str) and flag.search(quoted.sub("", node.value))]
    assert not found, "\n".join(found)


def test_k_is_capped(word_index_path, monkeypatch):
    result = runner.invoke(app, ["neighbors", "king", "--index", str(word_index_path), "-k", "5000"])
    assert result.exit_code == 2 and "EMBEDSEARCH_MAX_K" in result.output
    monkeypatch.setenv("EMBEDSEARCH_MAX_K", "6000")
    payload = json.loads(invoke("neighbors", "king", "--index", word_index_path, "-k", "5000",
                                "--json").stdout)
    assert len(payload["hits"]) == 5000


# -- no silent wrong answers ------------------------------------------------------------

def test_unknown_words_are_reported_and_strict_refuses_them(word_index_path, tmp_path):
    index = str(word_index_path)
    result = invoke("neighbors", "new york xqzvbn", "--index", index, "--json")
    payload = json.loads(result.stdout)
    assert payload["ignored"] == ["xqzvbn"]
    assert result.stderr.strip() == "ignored (not in the vocabulary): xqzvbn"
    with Index.open(word_index_path) as opened:
        expected = query.neighbors(opened, "new york")
        assert [h["key"] for h in payload["hits"]] == [h.key for h in expected]
        with pytest.raises(UnknownWordsError, match="xqzvbn"):
            query.neighbors(opened, "new york xqzvbn", strict=True)
        assert query.compare(opened, ["king xqzvbn", "queen"]).ignored == ["xqzvbn"]
        assert query.odd_one_out(opened, ["breakfast", "cereal", "dinner", "lunch", "qqzx"]
                                 ).ignored == ["qqzx"]
    strict = cli("neighbors", "new york xqzvbn", "--index", index, "--strict",
                 cwd=tmp_path, home=tmp_path)
    one_line_error(strict, "xqzvbn")
    one_line_error(cli("neighbors", "qqzx xqzvbn", "--index", index, cwd=tmp_path, home=tmp_path),
                   "qqzx xqzvbn")
    similarity = json.loads(invoke("similarity", "king xqzvbn", "queen", "--index", index,
                                   "--json").stdout)
    assert similarity["ignored"] == ["xqzvbn"]
    odd = invoke("doesnt-match", "breakfast", "cereal", "dinner", "lunch", "qqzx", "--index", index)
    assert odd.stdout.strip() == "cereal" and "qqzx" in odd.stderr


def test_a_corpus_index_reports_the_words_its_encoder_ignores(words_file, tmp_path, monkeypatch):
    monkeypatch.setenv("EMBEDSEARCH_HOME", str(tmp_path / "home"))
    corpus = tmp_path / "c.txt"
    corpus.write_text("the king and the queen\nstocks fell on the market\n")
    invoke("build", "--corpus", corpus, "--encoder", words_file, "--out", "c")
    payload = json.loads(invoke("neighbors", "king xqzvbn", "--index", "c", "--json").stdout)
    assert payload["ignored"] == ["xqzvbn"] and payload["hits"][0]["text"] == "the king and the queen"
    assert runner.invoke(app, ["neighbors", "king xqzvbn", "--index", "c", "--strict"]).exit_code == 1


def test_tokens_match_the_glove_vocabulary(glove):
    vocabulary = set(glove.words)
    for text, tokens in [("New York's", ["new", "york", "'s"]), ("Don't", ["do", "n't"]),
                         ("can't stop", ["ca", "n't", "stop"]), ("we're", ["we", "'re"]),
                         ("O'Neill's e-mail", ["o'neill", "'s", "e-mail"])]:
        assert tokenize(text) == tokens
        assert set(tokens) <= vocabulary
    decomposed = unicodedata.normalize("NFD", "café")
    assert decomposed != "café" and tokenize(decomposed) == ["café"]


def test_decomposed_text_finds_the_composed_vector(word_index_path, glove_slice):
    with Index.open(word_index_path) as opened:
        word = next(w for w in glove_slice.words if unicodedata.normalize("NFD", w) != w)
        composed = query.resolve_terms(opened, [word])[0]
        decomposed = query.resolve_terms(opened, [unicodedata.normalize("NFD", word)])[0]
    np.testing.assert_array_equal(composed.vector, decomposed.vector)
    assert decomposed.ignored == []


def test_ctrl_c_prints_what_was_kept_and_exits_130(word_index_path, tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "embedsearch", "neighbors", "-", "--index", str(word_index_path),
         "-k", "1"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=tmp_path,
        # A shell's background job (`make test &`) ignores SIGINT, and so would the child.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    # A piped block of lines is answered as soon as it is full; then the command waits for more.
    process.stdin.write("king\n" * BLOCK_LINES)
    process.stdin.flush()
    first = json.loads(process.stdout.readline())  # the index is open and answering: interrupt
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("interrupted: ") and "kept" in lines[0]
    with Index.open(word_index_path) as opened:
        expected = query.neighbors(opened, "king", k=1)
    assert first["query"] == "king" and [h["key"] for h in first["hits"]] == [expected[0].key]


# -- conveniences -------------------------------------------------------------------

def test_short_help_version_and_completion():
    short, long = runner.invoke(app, ["-h"]), runner.invoke(app, ["--help"])
    assert short.exit_code == 0 and short.output == long.output
    assert "--install-completion" in long.output
    assert runner.invoke(app, ["neighbors", "-h"]).exit_code == 0
    assert runner.invoke(app, ["eval", "-h"]).exit_code == 0
    from importlib.metadata import version

    assert invoke("--version").stdout.strip() == f"embedsearch {version('embedsearch')}"


def test_every_output_format_says_the_same(word_index_path):
    index = str(word_index_path)
    document = json.loads(invoke("neighbors", "computer", "--index", index, "-k", "4", "--json").stdout)
    lines = invoke("neighbors", "computer", "--index", index, "-k", "4", "--jsonl").stdout.splitlines()
    assert [json.loads(line) for line in lines] == [document]
    rows = list(csv.DictReader(io.StringIO(invoke("neighbors", "computer", "--index", index, "-k",
                                                  "4", "--csv").stdout)))
    assert [r["key"] for r in rows] == [h["key"] for h in document["hits"]]
    assert [float(r["score"]) for r in rows] == [h["score"] for h in document["hits"]]
    pair = json.loads(invoke("similarity", "king", "queen", "--index", index, "--json").stdout)
    several = json.loads(invoke("similarity", "king", "queen", "boy", "--index", index,
                                "--json").stdout)
    assert set(several) <= set(pair) and pair["score"] == pair["matrix"][0][1]
    grid = list(csv.reader(io.StringIO(invoke("similarity", "king", "queen", "boy", "--index",
                                              index, "--csv").stdout)))
    assert grid[0] == ["term", "king", "queen", "boy"] and float(grid[2][1]) == several["matrix"][1][0]
    both = cli("neighbors", "king", "--index", index, "--json", "--csv", cwd=word_index_path.parent,
               home=word_index_path.parent)
    one_line_error(both, "choose one output format", code=2)
    info = json.loads(invoke("info", index, "--json").stdout)
    assert all(info[key].endswith("Z") and "T" in info[key] for key in ("created_at", "updated_at"))


def test_batch_queries_from_stdin_and_a_file(word_index_path, tmp_path, keyed_vectors):
    index = str(word_index_path)
    lines = invoke("neighbors", "-", "--index", index, "-k", "3",
                   input="king\n\nparis\nqqzxv\nnew york xqzvbn\n").stdout.splitlines()
    answers = [json.loads(line) for line in lines]
    assert [a["query"] for a in answers] == ["king", "paris", "qqzxv", "new york xqzvbn"]
    assert "qqzxv" in answers[2]["error"] and answers[3]["ignored"] == ["xqzvbn"]
    with Index.open(word_index_path) as opened:
        for answer in (answers[0], answers[1], answers[3]):
            expected = query.neighbors(opened, answer["query"], k=3)
            assert [h["key"] for h in answer["hits"]] == [h.key for h in expected]
    questions = tmp_path / "questions.txt"
    questions.write_text("man king woman\nparis france rome\n")
    analogies = [json.loads(line) for line in invoke(
        "analogy", "-", "--index", index, "-k", "1", "--queries", questions).stdout.splitlines()]
    for answer in analogies:
        a, b, c = answer["query"]
        assert answer["hits"][0]["key"] == keyed_vectors.most_similar(positive=[b, c], negative=[a],
                                                                      topn=1)[0][0]
    pairs = [json.loads(line) for line in invoke("similarity", "-", "--index", index,
                                                 input="king queen\nking\tqueen boy\n"
                                                 ).stdout.splitlines()]
    assert pairs[0]["score"] == pytest.approx(keyed_vectors.similarity("king", "queen"), abs=1e-5)
    assert pairs[1]["terms"] == ["king", "queen boy"]


def test_neighbors_batch_makes_one_search(word_index_path, monkeypatch):
    with Index.open(word_index_path) as opened:
        calls = []
        search = opened.search
        monkeypatch.setattr(opened, "search", lambda *a, **kw: calls.append(1) or search(*a, **kw))
        answers = query.neighbors_batch(opened, ["king", "paris", "new york"], k=5)
        assert len(calls) == 1 and [len(a) for a in answers] == [5, 5, 5]


def test_gensim_query_vocabulary(word_index_path, keyed_vectors):
    result = invoke("most-similar", "-p", "king", "-p", "woman", "-n", "man", "-n", "boy",
                    "--index", word_index_path, "-k", "5", "--json")
    expected = keyed_vectors.most_similar(positive=["king", "woman"], negative=["man", "boy"], topn=5)
    hits = json.loads(result.stdout)["hits"]
    assert [h["key"] for h in hits] == [key for key, _ in expected]
    np.testing.assert_allclose([h["score"] for h in hits], [s for _, s in expected], atol=1e-5)
    with Index.open(word_index_path) as opened:
        assert query.n_similarity(opened, ["king", "man"], ["queen", "woman"]) == pytest.approx(
            keyed_vectors.n_similarity(["king", "man"], ["queen", "woman"]), abs=1e-5)
        np.testing.assert_allclose(query.distances(opened, "king", ["queen", "car"]),
                                   keyed_vectors.distances("king", ["queen", "car"]), atol=1e-5)
        np.testing.assert_allclose(query.distances(opened, "king"),
                                   keyed_vectors.distances("king"), atol=1e-5)
        closer = query.closer_than(opened, "king", "throne")
        assert set(closer) == set(keyed_vectors.closer_than("king", "throne"))
        assert query.rank(opened, "king", "throne") == keyed_vectors.rank("king", "throne")
    assert invoke("rank", "king", "throne", "--index", word_index_path).stdout.strip() == \
        str(keyed_vectors.rank("king", "throne"))
