"""Documents cut into chunks that know their document and offsets; Markdown, HTML and whole files."""

from __future__ import annotations

import json

import pytest

from helpers import LEE
from embedsearch.corpus import (CHUNK_FIELD, Item, chunk_item, chunk_spans, chunk_text,
                                read_corpus)
from embedsearch.errors import InputError
from embedsearch.index import Index
from embedsearch.indexing.add import add_corpus
from embedsearch.indexing.build import build_corpus_index

LEE_TEXTS = [line.strip() for line in LEE.read_text().splitlines() if line.strip()][:60]


@pytest.mark.parametrize("chunk_words,overlap", [(20, 0), (50, 0), (50, 20), (7, 6)])
def test_chunk_offsets_round_trip_to_the_source_text(chunk_words, overlap):
    for text in LEE_TEXTS[:30]:
        messy = text.replace(". ", ".\n\n  ", 3)  # offsets must survive any whitespace
        spans = chunk_spans(messy, chunk_words, overlap)
        words = messy.split()
        covered = " ".join(" ".join(messy[start:end].split()) for start, end in spans)
        if overlap == 0:
            assert covered.split() == words  # every word once, in order
            # The same cut as chunk_text (which also drops a quote closing a sentence).
            assert [len(messy[s:e].split()) for s, e in spans] == \
                [len(chunk.split()) for chunk in chunk_text(messy, chunk_words)]
        else:
            assert set(covered.split()) == set(words)
            for (start, _), (_, end) in zip(spans[1:], spans):
                assert len(messy[start:end].split()) <= overlap  # shared words, at most overlap
        for start, end in spans:
            assert messy[start:end] == messy[start:end].strip()


def test_chunk_items_know_their_document():
    text = LEE_TEXTS[0]
    item = Item("doc7", text, "news.jsonl", 7, {"topic": "fire"})
    chunks = chunk_item(item, 30)
    assert len(chunks) > 2
    assert [c.key for c in chunks] == ["doc7"] + [f"doc7#{n}" for n in range(2, len(chunks) + 1)]
    for number, chunk in enumerate(chunks, start=1):
        place = chunk.metadata[CHUNK_FIELD]
        assert place["document"] == "doc7" and place["number"] == number
        assert text[place["start"]:place["end"]] == chunk.text
        assert chunk.metadata["topic"] == "fire" and chunk.source == "news.jsonl"
    assert chunk_item(Item("short", "Just a few words."), 30) == [Item("short", "Just a few words.")]
    with pytest.raises(InputError, match="overlap"):
        from embedsearch.corpus import check_chunking
        check_chunking(10, 10)


def test_markdown_html_and_whole_text_files_are_read_as_documents(tmp_path):
    (tmp_path / "guide.md").write_text("# Install\n\nRun `pip install` and **restart**.\n\n"
                                       "* [docs](http://x.org/a) here\n")
    (tmp_path / "page.html").write_text(
        "<html><head><title>My page</title><style>p {color: red}</style></head><body>"
        "<h1>Hello</h1><p>First <b>bold</b> para.</p><script>var x = 1;</script>"
        "<p>Second &amp; last.</p></body></html>")
    (tmp_path / "notes.txt").write_text("line one\nline two\n")
    items = {item.key: item for item in read_corpus(tmp_path)}
    guide = " ".join(items["guide.md"].text.split())
    assert guide.startswith("Install Run") and "pip install" in guide and "docs here" in guide
    assert "*" not in guide and "http" not in guide and "`" not in guide
    page = " ".join(items["page.html"].text.split())
    assert page == "Hello First bold para. Second & last."
    assert items["page.html"].metadata == {"title": "My page"}
    assert "notes.txt:1" in items  # text files stay one item per line...
    whole = {item.key: item for item in read_corpus(tmp_path, unit="document")}
    assert whole["notes.txt"].text == "line one\nline two"  # ...unless read as documents


def test_pdf_is_read_when_pypdf_is_installed(tmp_path):
    pypdf = pytest.importorskip("pypdf")
    writer = pypdf.PdfWriter()
    writer.add_blank_page(width=200, height=200)
    with open(tmp_path / "blank.pdf", "wb") as handle:
        writer.write(handle)
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 not really")
    from embedsearch.corpus import CorpusReport, read_corpus_file

    report = CorpusReport()
    assert list(read_corpus_file(tmp_path / "blank.pdf", tmp_path, report=report)) == []
    assert report.skipped == {"file with no text": 1}
    with pytest.raises(InputError, match="cannot read .*broken.pdf as PDF"):
        list(read_corpus_file(tmp_path / "broken.pdf", tmp_path, report=report))


def test_build_chunks_documents_and_add_follows_a_shorter_text(tmp_path, vectors_file):
    from embedsearch.encoders import load_encoder

    corpus = tmp_path / "docs.jsonl"
    documents = {f"d{i}": text for i, text in enumerate(LEE_TEXTS[:20])}
    corpus.write_text("".join(json.dumps({"key": k, "text": t}) + "\n" for k, t in documents.items()))
    encoder = load_encoder(str(vectors_file))
    build_corpus_index(corpus, encoder, tmp_path / "idx", key_field="key", chunk_words=40,
                       show_progress=False)
    with Index.open(tmp_path / "idx") as index:
        rows = [row for batch in index.items.iter_rows() for row in batch]
    assert len(rows) > len(documents)
    for row in rows:
        place = row["metadata"].get(CHUNK_FIELD, {"document": row["key"], "start": 0,
                                                  "end": len(row["text"])})
        assert documents[place["document"]][place["start"]:place["end"]] == row["text"]
    longest = max(documents, key=lambda k: len(documents[k]))
    chunks_before = sum(1 for row in rows if row["key"].startswith(longest + "#"))
    assert chunks_before >= 2
    documents[longest] = documents[longest][:150]  # now one or two chunks
    corpus.write_text("".join(json.dumps({"key": k, "text": t}) + "\n" for k, t in documents.items()))
    report = add_corpus(tmp_path / "idx", corpus, key_field="key", chunk_words=40,
                        show_progress=False)
    assert report.deleted >= chunks_before - 1
    with Index.open(tmp_path / "idx") as index:
        keys = [row["key"] for batch in index.items.iter_rows() for row in batch]
        texts = {row["key"]: row["text"] for batch in index.items.iter_rows() for row in batch}
    assert [key for key in keys if key.startswith(longest + "#")] == []
    assert texts[longest] == documents[longest].strip()
