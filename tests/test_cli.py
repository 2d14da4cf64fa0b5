"""The CLI end to end: the documented forms work, errors are one line with a non-zero exit."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from embedsearch import query
from embedsearch.cli import app
from embedsearch.index import Index

runner = CliRunner()


@pytest.fixture
def built(home, vectors_file):
    result = runner.invoke(app, ["build", "--vectors", str(vectors_file), "--out", "words"])
    assert result.exit_code == 0, result.output
    return "words"


def invoke_json(args):
    result = runner.invoke(app, args + ["--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_build_then_info_and_list(built, home):
    info = invoke_json(["info", built])
    assert info["count"] == 20000 and info["dim"] == 50 and info["content"] == "vocabulary"
    assert info["index_type"] == "flat" and info["encoder"]["name"] == "slice"
    listed = invoke_json(["list"])
    assert [(e["name"], e["count"]) for e in listed] == [("words", 20000)]
    again = runner.invoke(app, ["build", "--vectors", "x", "--out", built, "--skip-existing"])
    assert again.exit_code == 0 and "reusing" in again.output


def test_neighbors_json_matches_the_python_api(built, home):
    payload = invoke_json(["neighbors", "computer", "--index", built, "-k", "5"])["hits"]
    with Index.open(home / built) as index:
        expected = query.neighbors(index, "computer", k=5)
    assert [(p["key"], p["rank"]) for p in payload] == [(h.key, i + 1) for i, h in enumerate(expected)]
    np.testing.assert_allclose([p["score"] for p in payload], [h.score for h in expected], atol=1e-6)
    table = runner.invoke(app, ["neighbors", "computer", "--index", built, "-k", "5"])
    assert expected[0].key in table.output.splitlines()[3]  # title, header, rule, first row


def test_analogy_answers_queen_and_filters(built):
    payload = invoke_json(["analogy", "man", "king", "woman", "--index", built])["hits"]
    assert payload[0]["key"] == "queen" and len(payload) == 10
    assert all(set(p) >= {"key", "score"} for p in payload)
    cosmul = invoke_json(["analogy", "man", "king", "woman", "--index", built, "--method", "mul"])["hits"]
    assert cosmul[0]["key"] == "queen" and cosmul[0]["score"] != payload[0]["score"]
    filtered = invoke_json(["analogy", "man", "king", "woman", "--index", built, "--where", "position >= 5000"])["hits"]
    assert all(p["id"] >= 5000 for p in filtered) and len(filtered) == 10


def test_similarity_pair_and_matrix(built):
    pair = invoke_json(["similarity", "king", "queen", "--index", built])
    matrix = invoke_json(["similarity", "king", "queen", "boy", "--index", built])
    assert pair["score"] == pytest.approx(matrix["matrix"][0][1], abs=1e-6)
    assert matrix["matrix"][1][1] == pytest.approx(1.0, abs=1e-5)
    odd = invoke_json(["doesnt-match", "breakfast", "cereal", "dinner", "lunch", "--index", built])
    assert odd["odd_one_out"] == "cereal"


def test_corpus_build_with_overwrite(home, vectors_file, tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("the cat sat on the mat\nstocks fell on wall street\n\nthe dog barked\n")
    args = ["build", "--corpus", str(corpus), "--encoder", str(vectors_file), "--out", "notes"]
    assert runner.invoke(app, args).exit_code == 0
    corpus.write_text("only one line now\n")
    assert runner.invoke(app, args + ["--overwrite"]).exit_code == 0
    hits = invoke_json(["neighbors", "a single line", "--index", "notes"])["hits"]
    assert [h["text"] for h in hits] == ["only one line now"]


def run_cli(*args, cwd, env_home):
    env = {**os.environ, "EMBEDSEARCH_HOME": str(env_home)}
    return subprocess.run([sys.executable, "-m", "embedsearch", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=120)


def assert_one_line_error(result, *fragments, code=1):
    assert result.returncode == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_errors_are_one_clear_line(built, home, vectors_file, tmp_path):
    def cli(*args):
        return run_cli(*args, cwd=tmp_path, env_home=home)

    assert_one_line_error(cli("neighbors", "qwxzzy", "--index", built), "qwxzzy")
    assert_one_line_error(cli("analogy", "man", "kingg", "woman", "--index", built), "kingg")
    assert_one_line_error(cli("neighbors", "king", "--index", "missing"), "no index at")
    assert_one_line_error(cli("neighbors", "king", "--index", built, "--where", "position <"),
                          "malformed filter")
    bad = tmp_path / "bad.txt"
    bad.write_text("2 3\nking 0.1 zero\n")
    assert_one_line_error(cli("build", "--vectors", str(bad), "--out", "bad"), "cannot read")
    assert_one_line_error(cli("build", "--vectors", str(vectors_file), "--out", built), "--overwrite")
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert_one_line_error(cli("build", "--corpus", str(empty), "--encoder", str(vectors_file),
                              "--out", "e"), "no text found")
    assert_one_line_error(cli("build", "--corpus", str(tmp_path / "nope"), "--encoder",
                              str(vectors_file), "--out", "e"), "corpus not found")
    # Option values and names that the command line parser refuses: usage errors, exit code 2.
    assert_one_line_error(cli("train", "attention", "--corpus", str(empty), "--out", "x",
                              "--lexical-share", "1.5"), "--lexical-share", "--help", code=2)
    assert_one_line_error(cli("neighbors", "king", "--index", built, "--no-such-option"),
                          "--no-such-option", code=2)


def test_dimension_mismatch_is_reported(home, glove_slice, tmp_path):
    from gensim.models import KeyedVectors

    encoder_file = tmp_path / "enc.txt"
    keyed = KeyedVectors(50)
    keyed.add_vectors(glove_slice.words[:300], glove_slice.vectors[:300])
    keyed.save_word2vec_format(str(encoder_file))
    corpus = tmp_path / "c.txt"
    corpus.write_text("the people of the world\n")
    assert runner.invoke(app, ["build", "--corpus", str(corpus), "--encoder", str(encoder_file),
                               "--out", "c"]).exit_code == 0
    smaller = KeyedVectors(20)
    smaller.add_vectors(glove_slice.words[:300], glove_slice.vectors[:300, :20])
    smaller.save_word2vec_format(str(encoder_file))
    result = run_cli("neighbors", "some people", "--index", "c", cwd=tmp_path, env_home=home)
    assert_one_line_error(result, "dimension mismatch")


def test_word_query_imports_neither_torch_nor_gensim(built, home, tmp_path):
    code = (
        "import sys\n"
        "from embedsearch.cli import main\n"
        f"sys.argv = ['embedsearch', 'neighbors', 'king', '--index', {built!r}, '--json']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('heavy:', sorted(m for m in ('torch', 'gensim') if m in sys.modules))\n"
    )
    env = {**os.environ, "EMBEDSEARCH_HOME": str(home)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    output, heavy = result.stdout.rsplit("heavy:", 1)
    assert heavy.strip() == "[]"
    with Index.open(built) as index:
        expected = query.neighbors(index, "king", k=10)
    assert [(p["key"], p["rank"]) for p in json.loads(output)["hits"]] == \
        [(hit.key, rank) for rank, hit in enumerate(expected, start=1)]


def test_help_keeps_its_brackets():
    """rich reads `[word]` in help text as markup and drops it; every help must show as written."""
    from embedsearch.cli.reference import command_paths, parameters, plain

    for path, callback, docstring in command_paths(app):
        for text in [docstring] + [declaration.help or "" for _, _, declaration in parameters(callback)]:
            assert plain(text) == text.replace("\\[", "["), f"{path}: rich drops a bracket of {text!r}"
    assert "embedsearch[distributed]" in runner.invoke(app, ["build", "--help"], env={"COLUMNS": "200"}).output
