"""Whole files as documents: plain text, Markdown and HTML read as text, and PDF where pypdf is installed.

Markdown is rendered by markdown-it-py and HTML parsed by Beautiful Soup
(scripts, styles and other non-text elements dropped), so what is indexed
and searched is the words a reader sees, not the markup. The file is one
item, keyed by its path relative to the corpus root; chunking then cuts it
into passages whose offsets refer to this extracted text. An HTML `<title>`
goes to the item's metadata.

    read_document(Path("notes/a.md"), "a.md", CorpusReport())
    # [Item(key='a.md', text='Title\\n\\nSome text.', source='a.md', position=1, ...)]
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

from ..errors import InputError
from .readers import BINARY_PROBE, CorpusReport, Item

MARKDOWN_SUFFIXES = {".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm"}
PDF_SUFFIXES = {".pdf"}
NON_TEXT_ELEMENTS = ("script", "style", "noscript", "template", "svg", "head")
_BLANK_LINES = re.compile(r"\n\s*\n\s*")


def read_document(file: Path, source: str, report: CorpusReport) -> Iterator[Item]:
    """The one item of a whole file (nothing if it holds no text)."""
    suffix = file.suffix.lower()
    metadata: dict = {}
    if suffix in PDF_SUFFIXES:
        text = pdf_text(file)
    else:
        raw = _decoded(file, report)
        if suffix in MARKDOWN_SUFFIXES:
            text = markdown_text(raw)
        elif suffix in HTML_SUFFIXES:
            text, title = html_text(raw)
            if title:
                metadata["title"] = title
        else:
            text = raw
    text = tidy(text)
    if text:
        yield Item(source, text, source, 1, metadata)
    else:
        report.skip("file with no text")


def tidy(text: str) -> str:
    """Trailing spaces and runs of blank lines collapsed; paragraphs stay apart."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def markdown_text(source: str) -> str:
    """The text of a Markdown document: rendered to HTML by markdown-it-py, then read as HTML."""
    from markdown_it import MarkdownIt

    return html_text(MarkdownIt("commonmark").render(source))[0]


def html_text(source: str) -> tuple[str, str | None]:
    """(visible text, title) of an HTML document; block elements become separate lines."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(source, "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else None
    for element in soup(NON_TEXT_ELEMENTS):
        element.decompose()
    return soup.get_text("\n"), title or None


def pdf_text(file: Path) -> str:
    """The text of every page of a PDF, pages apart by a blank line (needs pypdf)."""
    try:
        from pypdf import PdfReader
        from pypdf.errors import PdfReadError
    except ImportError:
        raise InputError(f"{file}: reading PDF needs pypdf (pip install pypdf)") from None
    try:
        reader = PdfReader(file)
        return "\n\n".join(page.extract_text() or "" for page in reader.pages)
    except (PdfReadError, ValueError, KeyError, OSError) as error:
        raise InputError(f"cannot read {file} as PDF: {error}") from None


def _decoded(file: Path, report: CorpusReport) -> str:
    try:
        data = file.read_bytes()
    except OSError as error:
        raise InputError(f"cannot read {file}: {error.strerror}") from None
    if b"\0" in data[:BINARY_PROBE]:
        raise InputError(f"{file} is a binary file, not text: give a text, Markdown, HTML or "
                         "JSON Lines file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        report.replaced_lines += 1
        return data.decode("utf-8", errors="replace")
