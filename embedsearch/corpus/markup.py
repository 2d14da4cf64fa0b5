"""Whole files as documents: plain text, Markdown and HTML read as text, and PDF where pypdf is installed.

Markdown is rendered by markdown-it-py and HTML parsed by Beautiful Soup
(scripts, styles and other non-text elements dropped), so what is indexed
and searched is the words a reader sees, not the markup. The file is one
item, keyed by its path relative to the corpus root; chunking then cuts it
into passages whose offsets refer to this extracted text. An HTML `<title>`
goes to the item's metadata.

    document_text(Path("notes/a.md"))
    # ('Title\\n\\nSome text.', {}, False)
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import InputError

MARKDOWN_SUFFIXES = {".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm"}
PDF_SUFFIXES = {".pdf"}
NON_TEXT_ELEMENTS = ("script", "style", "noscript", "template", "svg", "head")
_BLANK_LINES = re.compile(r"\n\s*\n\s*")
BINARY_PROBE = 8192  # bytes read to tell text from binary: a NUL byte never occurs in text


def document_text(file: Path) -> tuple[str, dict, bool]:
    """(text, metadata, whether non-UTF-8 bytes were replaced) of a whole file."""
    suffix = file.suffix.lower()
    metadata: dict = {}
    replaced = False
    if suffix in PDF_SUFFIXES:
        text = pdf_text(file)
    else:
        raw, replaced = _decoded(file)
        if suffix in MARKDOWN_SUFFIXES:
            text = markdown_text(raw)
        elif suffix in HTML_SUFFIXES:
            text, title = html_text(raw)
            if title:
                metadata["title"] = title
        else:
            text = raw
    return tidy(text), metadata, replaced


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


def _decoded(file: Path) -> tuple[str, bool]:
    try:
        data = file.read_bytes()
    except OSError as error:
        raise InputError(f"cannot read {file}: {error.strerror}") from None
    if b"\0" in data[:BINARY_PROBE]:
        raise InputError(f"{file} is a binary file, not text: give a text, Markdown, HTML or "
                         "JSON Lines file")
    try:
        return data.decode("utf-8"), False
    except UnicodeDecodeError:
        return data.decode("utf-8", errors="replace"), True
