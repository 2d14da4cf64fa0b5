"""Retrieval evaluation: recall@k and MRR on a hand-worked example, through numpy, an index and the CLI."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from embedsearch.corpus import chunk_text, split_sentences
from embedsearch.cli import app
from embedsearch.corpus import Item
from embedsearch.errors import InputError
from embedsearch.evaluate.retrieval import (RetrievalScores, evaluate_index, evaluate_matrix,
                                            queries_by_document, write_retrieval_split)
from embedsearch.index import EncoderInfo, IndexWriter

# Five unit vectors; documents a, a, b, b, c. Worked by hand (cosine = dot product):
#   query 0 (a): 1 .80, 2 .60, 3 0, 4 0         -> relevant 1 at rank 1
#   query 1 (a): 2 .96, 0 .80, 4 .60, 3 .168    -> relevant 0 at rank 2
#   query 2 (b): 1 .96, 4 .80, 0 .60, 3 .224    -> relevant 3 at rank 4
#   query 3 (b): 4 .28, 2 .224, 1 .168, 0 0     -> relevant 2 at rank 2
#   item 4 (c) is alone in its document: a distractor, never a query.
# recall@2 = (1 + 1 + 0 + 1) / 4 = 0.75; MRR = (1 + 1/2 + 1/4 + 1/2) / 4 = 0.5625.
VECTORS = np.array([[1, 0, 0], [0.8, 0.6, 0], [0.6, 0.8, 0], [0, 0.28, 0.96], [0, 1, 0]],
                   dtype=np.float32)
DOCUMENTS = ["a", "a", "b", "b", "c"]


def test_scores_of_the_hand_worked_example():
    result = evaluate_matrix(VECTORS, DOCUMENTS, k=2)
    assert result.queries == 4
    assert result.recall_at_k == pytest.approx(0.75)
    assert result.mrr == pytest.approx(0.5625)


def test_recall_counts_the_share_of_relevant_items_in_the_top_k():
    scores = RetrievalScores(k=3)
    scores.add([9, 1, 8, 2], {1, 2})  # one of two in the top 3, first at rank 2
    scores.add([7, 6, 5], {4})        # none found at all
    result = scores.result()
    assert result.recall_at_k == pytest.approx(0.25)
    assert result.mrr == pytest.approx(0.25)


def test_queries_are_items_whose_document_has_others():
    assert queries_by_document(["x", "y", "x", "z"]) == {0: {2}, 2: {0}}
    with pytest.raises(InputError):
        evaluate_matrix(VECTORS[:2], ["a", "b"])


def test_sparse_rows_give_the_same_scores():
    from scipy import sparse

    result = evaluate_matrix(sparse.csr_matrix(VECTORS), DOCUMENTS, k=2)
    assert (result.recall_at_k, result.mrr) == pytest.approx((0.75, 0.5625))


@pytest.fixture
def chunk_index(tmp_path):
    path = tmp_path / "chunks"
    info = EncoderInfo(name="hand", kind="word2vec", spec="hand", fingerprint="0")
    items = [Item(f"{doc}#{i}", f"text {i}", "hand.jsonl", i, {"doc": doc})
             for i, doc in enumerate(DOCUMENTS)]
    with IndexWriter.create(path, info, dim=3) as writer:
        writer.add(items, VECTORS)
    return path


def test_an_index_gives_the_hand_worked_scores(chunk_index):
    result = evaluate_index(chunk_index, k=2, show_progress=False)
    assert (result.queries, result.recall_at_k, result.mrr) == (4, pytest.approx(0.75),
                                                                pytest.approx(0.5625))


def test_cli_reports_json_and_a_clear_error_for_a_missing_field(chunk_index):
    runner = CliRunner()
    done = runner.invoke(app, ["eval", "retrieval", "--index", str(chunk_index), "-k", "2", "--json"])
    assert done.exit_code == 0, done.output
    payload = json.loads(done.output)
    assert payload["recall@2"] == 0.75 and payload["mrr"] == 0.5625 and payload["queries"] == 4
    table = runner.invoke(app, ["eval", "retrieval", "--index", str(chunk_index), "-k", "2"])
    assert "0.7500" in table.output and "0.5625" in table.output
    missing = runner.invoke(app, ["eval", "retrieval", "--index", str(chunk_index),
                                  "--doc-field", "topic"])
    assert missing.exit_code != 0
    assert "no 'topic' metadata field" in str(missing.exception)


def test_chunks_end_at_sentences_and_merge_a_short_tail():
    text = "First one here. Second sentence is longer than that. Tail."
    assert split_sentences(text) == ["First one here.", "Second sentence is longer than that.", "Tail."]
    assert chunk_text(text, chunk_words=3) == ["First one here.",
                                               "Second sentence is longer than that. Tail."]
    long_sentence = " ".join(f"w{i}" for i in range(25))
    assert [len(c.split()) for c in chunk_text(long_sentence, chunk_words=10)] == [10, 10, 5]


def test_split_holds_out_whole_documents_seeded(tmp_path):
    documents = [(f"d{i}", " ".join(f"Sentence {i} {j} has words." for j in range(30)))
                 for i in range(10)]
    report = write_retrieval_split(documents, tmp_path / "one", heldout_fraction=0.3,
                                   chunk_words=10, max_chunks=4, seed=3)
    write_retrieval_split(documents, tmp_path / "two", heldout_fraction=0.3,
                          chunk_words=10, max_chunks=4, seed=3)
    assert (tmp_path / "one" / "heldout.jsonl").read_text() == (tmp_path / "two" / "heldout.jsonl").read_text()
    records = [json.loads(line) for line in report.heldout_path.read_text().splitlines()]
    held_docs = {r["doc"] for r in records}
    train_lines = report.train_path.read_text().splitlines()
    assert report.heldout_documents == len(held_docs) == 3 and len(train_lines) == 7
    assert all(f"Sentence {d[1:]} 0 " not in line for d in held_docs for line in train_lines)
    assert all(sum(r["doc"] == d for r in records) == 4 for d in held_docs)  # max_chunks
    assert len({r["key"] for r in records}) == len(records) == report.heldout_chunks
