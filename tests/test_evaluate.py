"""Evaluations reproduce gensim's on the same vectors; the batch analogy engine answers as gensim does.

The index is a real GloVe slice with case variants planted in it, so gensim's
rules are all exercised: "France" (carrying Germany's vector) comes before
"france" and must give FRANCE its vector; "Athens" (close to "athens") comes
later and may only appear as an answer, where its folded form is an input;
rows past `RESTRICT` are outside the vocabulary.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from embedsearch.query import analogies, exact_search
from embedsearch.indexing.build import build_vocabulary_index
from embedsearch.cli import app
from embedsearch.encoders import WordVectors
from embedsearch.errors import InputError
from embedsearch.evaluate import evaluate_analogies, evaluate_ann, evaluate_word_pairs
from embedsearch.evaluate.vocabulary import gensim_test_file, item_keys, vocabulary_ids
from embedsearch.evaluate.word_pairs import default_pair_files
from embedsearch.index import Index
from helpers import TOLERANCE, assert_exact_top_k, assert_same_ranking

ROWS = 20000
RESTRICT = 18000
SECTIONS = ("capital-common-countries", "family", "gram3-comparative")
PER_SECTION = 220  # questions kept from each section (gensim answers about 100 a second)
runner = CliRunner()


@pytest.fixture(scope="module")
def planted(glove) -> WordVectors:
    words = list(glove.words[:ROWS])
    vectors = np.array(glove.vectors[:ROWS])
    row = {word: i for i, word in enumerate(words)}
    rng = np.random.default_rng(0)
    # Every planted vector is taken before the first insert shifts the rows.
    athens = vectors[row["athens"]] + 0.05 * rng.standard_normal(50).astype(np.float32)
    germany = vectors[row["germany"]] + 0.05 * rng.standard_normal(50).astype(np.float32)
    coffee = vectors[row["coffee"]].copy()
    words.insert(3, "France")
    vectors = np.insert(vectors, 3, germany, axis=0)
    words.insert(15000, "Athens")
    vectors = np.insert(vectors, 15000, athens, axis=0)
    words.insert(5, "Café")  # non-ASCII: SQLite's upper() cannot fold it, Python's must
    vectors = np.insert(vectors, 5, coffee, axis=0)
    return WordVectors(words, vectors, name="planted")


@pytest.fixture(scope="module")
def index(planted, tmp_path_factory):
    path = tmp_path_factory.mktemp("eval") / "planted"
    build_vocabulary_index(planted, path, show_progress=False)
    with Index.open(path) as opened:
        yield opened


@pytest.fixture(scope="module")
def keyed(index):
    """gensim KeyedVectors holding the index's own vectors, in id order."""
    from gensim.models import KeyedVectors

    keys = index.keys_of(range(index.count))
    keyed = KeyedVectors(index.dim)
    keyed.add_vectors([keys[i] for i in range(index.count)], np.array(index.vectors))
    return keyed


@pytest.fixture(scope="module")
def questions_file(tmp_path_factory):
    """Three Google sections plus an empty section, malformed lines and unknown words."""
    lines, kept = [], PER_SECTION
    for line in gensim_test_file("questions-words.txt").read_text().splitlines():
        if line.startswith(": "):
            kept = 0 if line[2:] in SECTIONS else PER_SECTION
            if kept == 0:
                lines.append(line)
        elif kept < PER_SECTION:
            lines.append(line)
            kept += 1
    extra = [": empty-section", ": odd-lines", "athens greece", "athens greece oslo norway sweden",
             "", "qwxzzy greece oslo norway", "France paris Germany berlin", "Athens Greece Oslo Norway"]
    path = tmp_path_factory.mktemp("questions") / "questions.txt"
    path.write_text("\n".join(lines[:300] + extra + lines[300:]) + "\n")
    return path


def four_word_lines(path) -> int:
    return sum(1 for line in path.read_text().splitlines()
               if not line.startswith(": ") and len(line.split()) == 4)


def test_analogy_evaluation_equals_gensim(index, keyed, questions_file):
    report = evaluate_analogies(index, questions_file, restrict_vocab=RESTRICT)
    score, sections = keyed.evaluate_word_analogies(str(questions_file), restrict_vocab=RESTRICT)
    assert report.accuracy == score
    assert [(s.name, s.correct, s.incorrect) for s in report.sections] == \
        [(s["section"], s["correct"], s["incorrect"]) for s in sections[:-1]]
    assert report.questions == four_word_lines(questions_file)
    assert report.skipped == report.questions - len(sections[-1]["correct"] + sections[-1]["incorrect"])
    assert report.skipped > 1  # the unknown word, and words past the restriction
    assert len(report.mistakes) == report.answered - report.correct
    margins = [m.margin for m in report.mistakes]
    assert margins == sorted(margins, reverse=True) and min(margins) >= -TOLERANCE


def test_case_variants_and_restriction_follow_gensim(index):
    words = {"FRANCE", "ATHENS", "CAFÉ", "PARIS", index.keys_of([RESTRICT + 10])[RESTRICT + 10].upper()}
    found = vocabulary_ids(index, RESTRICT, True, words)
    keys = item_keys(index, found.values())
    assert {word: keys[found[word]] for word in found} == {
        "FRANCE": "France", "ATHENS": "athens", "CAFÉ": "Café", "PARIS": "paris"}
    assert vocabulary_ids(index, RESTRICT, False, {"France", "FRANCE", "france"}).keys() == {
        "France", "france"}


def test_3cosmul_evaluation_uses_the_same_rules(index, keyed, questions_file):
    report = evaluate_analogies(index, questions_file, restrict_vocab=None, method="mul")
    words = {word for section in report.sections for q in section.correct + section.incorrect for word in q}
    found = vocabulary_ids(index, None, True, words)
    keys = item_keys(index, found.values())
    checked = 0
    for section in report.sections:
        for question in (section.correct + section.incorrect)[::20]:
            a, b, c, expected = (keys[found[word]] for word in question)
            ranked = keyed.most_similar_cosmul(positive=[b, c], negative=[a], topn=5)
            predicted = next((w.upper() for w, _ in ranked if w.upper() not in question[:3]), None)
            assert (predicted == question[3]) == (question in section.correct), question
            checked += 1
    assert checked > 20


def sample_questions(index, questions_file, count=40):
    """Spread-out questions (a, b, c) of the file whose words are all in the index."""
    rows = [tuple(line.lower().split()[:3]) for line in questions_file.read_text().splitlines()
            if not line.startswith(": ") and len(line.split()) == 4]
    known = index.ids_for_keys({word for row in rows for word in row})
    rows = [row for row in rows if all(word in known for word in row)]
    return rows[::len(rows) // count][:count]


@pytest.mark.parametrize("restrict", [None, 5000])
def test_batch_3cosadd_equals_gensim_most_similar(index, keyed, questions_file, restrict):
    questions = sample_questions(index, questions_file)
    answers = analogies(index, questions, k=10, restrict_vocab=restrict)
    for (a, b, c), hits in zip(questions, answers):
        assert_same_ranking(hits, keyed.most_similar(positive=[b, c], negative=[a], topn=10,
                                                     restrict_vocab=restrict))
        if restrict:
            assert all(hit.id < restrict for hit in hits)


def test_batch_3cosmul_equals_gensim_most_similar_cosmul(index, keyed, questions_file):
    questions = sample_questions(index, questions_file, count=20)
    answers = analogies(index, questions, k=10, method="mul")
    for (a, b, c), hits in zip(questions, answers):
        assert_same_ranking(hits, keyed.most_similar_cosmul(positive=[b, c], negative=[a], topn=10))


def test_batch_answers_equal_single_answers_and_respect_where(index):
    from embedsearch import query

    questions = [("man", "king", "woman"), ("paris", "france", "rome"), ("good", "better", "bad")]
    batch = analogies(index, questions, k=5, where="position < 10000")
    for question, hits in zip(questions, batch):
        single = query.analogy(index, *question, k=5, where="position < 10000")
        assert [h.key for h in hits] == [h.key for h in single]
        assert all(h.id < 10000 for h in hits) and not set(question) & {h.key for h in hits}
    assert batch[0][0].key == "queen"


@pytest.mark.parametrize("name", ["wordsim353", "simlex999"])
def test_word_pairs_equal_gensim(index, keyed, name):
    path = default_pair_files()[name]
    report = evaluate_word_pairs(index, path, restrict_vocab=RESTRICT)
    pearson, spearman, oov_ratio = keyed.evaluate_word_pairs(str(path), restrict_vocab=RESTRICT)
    assert report.pearson == pytest.approx(pearson[0], abs=1e-6)
    assert report.spearman == pytest.approx(spearman[0], abs=1e-6)
    assert report.oov_ratio == pytest.approx(oov_ratio)
    assert report.pairs > 300


def test_bad_evaluation_files_are_one_clear_error(index, tmp_path):
    with pytest.raises(InputError, match="no such file"):
        evaluate_analogies(index, tmp_path / "missing.txt")
    headless = tmp_path / "headless.txt"
    headless.write_text("athens greece oslo norway\n")
    with pytest.raises(InputError, match="before the first"):
        evaluate_analogies(index, headless)
    junk = tmp_path / "junk.tsv"
    junk.write_text("# comment\nnot a pair\n")
    with pytest.raises(InputError, match="no usable word pairs"):
        evaluate_word_pairs(index, junk)
    with pytest.raises(InputError, match="unknown analogy method"):
        evaluate_analogies(index, headless, method="div")


def test_word_benchmarks_need_a_word_index(planted, tmp_path):
    from embedsearch.indexing.build import build_corpus_index

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the king and the queen\nparis is in france\n")
    build_corpus_index(corpus, planted, tmp_path / "corpus", show_progress=False)
    with Index.open(tmp_path / "corpus") as opened:
        with pytest.raises(InputError, match="holds a corpus"):
            evaluate_word_pairs(opened, default_pair_files()["wordsim353"])
        assert evaluate_ann(opened, k=1, sample=2).recall == 1.0


def test_exact_search_is_brute_force(index):
    # "Café" (planted) shares coffee's vector: query rows by key, and let ties fall either way.
    rows = index.ids_for_keys(["king", "water", "Café"])
    queries = index.vectors_of([rows["king"], rows["water"], rows["Café"]])
    ids, scores = exact_search(index, queries, 7, restrict_vocab=RESTRICT)
    assert_exact_top_k(ids, scores, queries @ np.array(index.vectors[:RESTRICT]).T)
    assert ids[:2, 0].tolist() == [rows["king"], rows["water"]]
    assert set(index.keys_of(ids[2, :2].tolist()).values()) == {"Café", "coffee"}
    np.testing.assert_allclose(scores[:, 0], 1.0, atol=TOLERANCE)


def test_ann_recall_of_flat_is_one_and_of_hnsw_is_measured(index, planted, tmp_path):
    flat = evaluate_ann(index, k=10, sample=200, seed=1)
    assert flat.recall == 1.0 and flat.qps > 0 and flat.exact_qps > 0 and flat.sample == 200
    small = WordVectors(planted.words[:3000], planted.vectors[:3000], name="small")
    build_vocabulary_index(small, tmp_path / "hnsw", index_type="hnsw", show_progress=False,
                           index_params={"M": 8, "efConstruction": 16, "efSearch": 16})
    with Index.open(tmp_path / "hnsw") as hnsw:
        report = evaluate_ann(hnsw, k=10, sample=len(small.words), sweep=True)  # every item
        # The reference: HNSW's own answers scored against brute force, ties allowed.
        vectors = np.array(hnsw.vectors[:len(small.words)])
        found = hnsw.search(vectors, 10)
    kth = -np.sort(-(vectors @ vectors.T), axis=1)[:, 9]
    found_counts = [sum(float(vectors[h.id] @ query) >= kth_score - TOLERANCE for h in hits)
                    for query, hits, kth_score in zip(vectors, found, kth)]
    assert report.recall == pytest.approx(np.mean(found_counts) / 10, abs=1e-9)
    assert report.index_type == "hnsw" and report.sample == len(small.words)
    recalls = [p.recall for p in report.sweep]
    assert [list(p.setting) for p in report.sweep] == [["efSearch"]] * len(recalls)
    assert recalls[-1] >= recalls[0] and recalls[-1] > 0.9


def cli_json(*args):
    result = runner.invoke(app, ["eval", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_eval_commands_json_shapes(index, questions_file):
    path = str(index.directory)
    analogy = cli_json("analogy", "--index", path, "--questions", str(questions_file),
                       "--restrict", str(RESTRICT), "--worst", "3")
    assert set(analogy) >= {"overall", "sections", "skipped", "worst"}
    assert 0 < analogy["overall"]["accuracy"] < 1 and analogy["skipped"] > 1
    assert [s["name"] for s in analogy["sections"]] == [
        "capital-common-countries", "family", "empty-section", "odd-lines", "gram3-comparative"]
    assert len(analogy["worst"]) == 3
    wordsim = cli_json("wordsim", "--index", path)
    assert set(wordsim) == {"wordsim353", "simlex999"}
    assert all({"pearson", "spearman", "oov_ratio"} <= set(v) for v in wordsim.values())
    ann = cli_json("ann", "--index", path, "--sample", "50", "-k", "5")
    assert ann["recall"] == 1.0 and ann["qps"] > 0


def test_eval_plots_are_png(index, questions_file, tmp_path):
    pytest.importorskip("matplotlib")
    chart = tmp_path / "analogy.png"
    result = runner.invoke(app, ["eval", "analogy", "--index", str(index.directory), "--questions",
                                 str(questions_file), "--plot", str(chart)])
    assert result.exit_code == 0, result.output
    assert "overall" in result.output and chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    chart = tmp_path / "ann.png"
    result = runner.invoke(app, ["eval", "ann", "--index", str(index.directory), "--sample", "30",
                                 "--plot", str(chart)])
    assert result.exit_code == 0, result.output
    assert chart.read_bytes()[:4] == b"\x89PNG"


def test_missing_matplotlib_is_one_clear_error(index, monkeypatch, tmp_path):
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    result = runner.invoke(app, ["eval", "ann", "--index", str(index.directory), "--plot",
                                 str(tmp_path / "ann.png")])
    assert result.exit_code != 0 and isinstance(result.exception, InputError)
    assert "pip install matplotlib" in str(result.exception)  # a base dependency, not an extra
    assert not (tmp_path / "ann.png").exists()


def test_cli_error_is_one_line(index, tmp_path):
    import subprocess
    import sys

    missing = tmp_path / "missing.txt"
    result = subprocess.run([sys.executable, "-m", "embedsearch", "eval", "analogy", "--index",
                             str(index.directory), "--questions", str(missing)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [f"error: no such file: {missing}"]
