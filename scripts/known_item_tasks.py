"""Held-out known-item retrieval tasks from real documents that ship offline.

Each task is a folder with `docs.jsonl` (`{"key", "text", ...}`, one record per
document), `queries.jsonl` (`{"query", "relevant": [keys], "split"}`) and the
same queries split in two, `dev.jsonl` (choose defaults on these) and
`test.jsonl` (report on these). A query names one document in natural
language and never appears in it:

- `stdlib`: docstrings of Python's standard library (modules, classes,
  functions, methods). The query is the summary (the first paragraph, most
  often one line); the document is the rest of the docstring, summary removed, keyed by qualified name
  (`json.dumps`). Identical docstrings (inherited, aliased) are kept once.
- `wiki`: sections of the articles of gensim's shortened English Wikipedia
  dump, keyed `Title / Section`. The query is the section's first sentence
  that reads as one (a capital first, no markup, 4 to 40 words; among the
  first three), removed from the document; sections without one stay as
  distractors; the other sections of the same article are the
  hardest distractors.
- `lee`: the 300 news articles of gensim's Lee background corpus. The query is
  the article's lead sentence (a news lead summarises its story), removed
  from the document.

Lee's human-rated document pairs (`lee.cor` and its similarity matrix) and
any other human-judged evaluation data are deliberately not used.

Everything is seeded and read in a fixed order, so a run rewrites the same
files (the stdlib domain depends on the Python version that runs it).

    python scripts/known_item_tasks.py --out /work/wt/tasks
    python scripts/known_item_tasks.py --out /tmp/tasks --only lee,wiki
"""

from __future__ import annotations

import argparse
import bz2
import importlib
import inspect
import json
import random
import re
import sys
import warnings
from pathlib import Path
from typing import Iterator

import gensim

TEST_DATA = Path(gensim.__file__).parent / "test" / "test_data"
WIKI_DUMP = TEST_DATA / "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
LEE_BACKGROUND = TEST_DATA / "lee_background.cor"
DOMAINS = ("stdlib", "wiki", "lee")

# Modules whose import has side effects (opens a browser, prints, needs a
# display) or that hold only tooling, not library documentation.
SKIPPED_MODULES = {"antigravity", "this", "idlelib", "tkinter", "turtle", "turtledemo",
                   "ensurepip", "venv", "pydoc_data", "lib2to3", "msilib", "msvcrt", "winreg",
                   "winsound", "nturl2path", "xxlimited", "xxsubtype", "__hello__",
                   "__phello__", "test", "sre_compile", "sre_constants", "sre_parse"}
MIN_QUERY_WORDS = 4
MAX_QUERY_WORDS = 40
MIN_DOC_WORDS = 30
MIN_DOCSTRING_WORDS = 20
MAX_STDLIB_DOCS = 2500
MAX_QUERIES = 1000
MIN_SECTION_WORDS = 80
MIN_PARAGRAPH_WORDS = 8
_MARKUP_PREFIX = re.compile(r"^(File|Image|Category|Thumb)\s*:", re.IGNORECASE)
_SIGNATURE = re.compile(r"^[\w.]+\(.*\)")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]?\s+(?=[A-Z0-9\"'(])")
_HEADING = re.compile(r"^(=+)\s*(.*?)\s*=+\s*$")
_TAIL_SECTION = re.compile(r"^(references|see also|external links|further reading|notes|"
                           r"bibliography|sources|footnotes|citations)$", re.IGNORECASE)


def split_sentences(text: str) -> list[str]:
    """Sentences of prose, split after ., ! or ? followed by a capital or digit."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def usable_query(query: str) -> bool:
    """A sentence a person could type: a capital first, no markup, neither a fragment nor an essay."""
    return (MIN_QUERY_WORDS <= len(query.split()) <= MAX_QUERY_WORDS and query[:1].isupper()
            and "|" not in query and not _MARKUP_PREFIX.match(query))


def remove_query_sentence(sentences: list[str], tries: int = 3) -> tuple[str | None, str]:
    """The first usable sentence among the first `tries`, and the text without it."""
    for position, sentence in enumerate(sentences[:tries]):
        if usable_query(sentence):
            return sentence, " ".join(sentences[:position] + sentences[position + 1:])
    return None, " ".join(sentences)


# ---- stdlib docstrings -------------------------------------------------------------------------

def _public_members(owner) -> Iterator[tuple[str, object]]:
    for name in sorted(dir(owner)):
        if name.startswith("_"):
            continue
        try:
            yield name, getattr(owner, name)
        except Exception:  # properties and lazy attributes that raise on access
            continue


def stdlib_docstrings() -> Iterator[tuple[str, str]]:
    """(qualified name, docstring) of the public modules, classes, functions and methods."""
    seen: set[int] = set()
    names = sorted(n for n in sys.stdlib_module_names if not n.startswith("_") and n not in SKIPPED_MODULES)
    for module_name in names:
        try:
            module = importlib.import_module(module_name)
        except Exception:
            continue
        yield module_name, inspect.getdoc(module) or ""
        for name, member in _public_members(module):
            if not (inspect.isclass(member) or inspect.isroutine(member)):
                continue
            if getattr(member, "__module__", module_name) != module_name or id(member) in seen:
                continue  # re-exported from another module: documented there
            seen.add(id(member))
            yield f"{module_name}.{name}", inspect.getdoc(member) or ""
            if inspect.isclass(member):
                for method_name, method in _public_members(member):
                    if inspect.isroutine(method) and method_name in vars(member):
                        yield f"{module_name}.{name}.{method_name}", inspect.getdoc(method) or ""


def stdlib_task() -> tuple[list[dict], list[dict]]:
    """Summary (its first paragraph) as the query, the rest of the docstring as the document."""
    docs, queries, texts_seen = [], [], set()
    warnings.simplefilter("ignore")  # deprecated modules warn on import and on attribute access
    for key, docstring in stdlib_docstrings():
        summary, _, rest = docstring.strip().partition("\n\n")
        summary, rest = " ".join(summary.split()), rest.strip()
        if (_SIGNATURE.match(summary) or not usable_query(summary)
                or len(rest.split()) < MIN_DOCSTRING_WORDS):
            continue
        if rest in texts_seen or summary.lower() in texts_seen:
            continue
        texts_seen.update((rest, summary.lower()))
        docs.append({"key": key, "text": rest})
        queries.append({"query": summary, "relevant": [key]})
    rng = random.Random(0)
    chosen = sorted(rng.sample(range(len(docs)), min(MAX_STDLIB_DOCS, len(docs))))
    return [docs[i] for i in chosen], [queries[i] for i in chosen]


# ---- Wikipedia sections ------------------------------------------------------------------------

def wiki_sections(path: Path = WIKI_DUMP) -> Iterator[tuple[str, str, str]]:
    """(title, section heading, prose) of each article section; lists, tables and tails dropped."""
    from gensim.corpora.wikicorpus import extract_pages, filter_wiki

    with bz2.open(path) as dump:
        for title, markup, _page_id in extract_pages(dump):
            heading, paragraphs = "Introduction", []
            for line in filter_wiki(markup).splitlines() + ["== END =="]:
                line = line.strip()
                match = _HEADING.match(line)
                if match:
                    if paragraphs:
                        yield title, heading, " ".join(paragraphs)
                    paragraphs = []
                    if _TAIL_SECTION.match(match.group(2)) or match.group(2) == "END":
                        break
                    heading = match.group(2)
                    continue
                if (line[:1] in "*|{!#:;" or _MARKUP_PREFIX.match(line)
                        or len(line.split()) < MIN_PARAGRAPH_WORDS):
                    continue
                paragraphs.append(re.sub(r"'{2,}", "", line))


def wiki_task() -> tuple[list[dict], list[dict]]:
    """A section's first (usable) sentence as the query, the rest of the section as the document."""
    docs, queries, keys = [], [], set()
    for title, heading, text in wiki_sections():
        key = f"{title} / {heading}"
        if key in keys or len(text.split()) < MIN_SECTION_WORDS:
            continue
        keys.add(key)
        query, rest = remove_query_sentence(split_sentences(text))
        docs.append({"key": key, "text": rest, "title": title, "section": heading})
        if query is not None:
            queries.append({"query": query, "relevant": [key]})
    return docs, queries


# ---- Lee news articles -------------------------------------------------------------------------

def lee_task(path: Path = LEE_BACKGROUND) -> tuple[list[dict], list[dict]]:
    """The lead sentence as the query, the rest of the article as the document."""
    docs, queries = [], []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        query, rest = remove_query_sentence(split_sentences(" ".join(line.split())), tries=1)
        if len(rest.split()) < MIN_DOC_WORDS:
            continue
        key = f"lee:{number}"
        docs.append({"key": key, "text": rest})
        if query is not None:
            queries.append({"query": query, "relevant": [key]})
    return docs, queries


TASKS = {"stdlib": stdlib_task, "wiki": wiki_task, "lee": lee_task}


def write_task(out_dir: Path, docs: list[dict], queries: list[dict], *, seed: int,
               max_queries: int = MAX_QUERIES, dev_fraction: float = 0.5) -> dict:
    """docs.jsonl, queries.jsonl, dev.jsonl and test.jsonl; the split is a seeded shuffle."""
    rng = random.Random(seed)
    order = list(range(len(queries)))
    rng.shuffle(order)
    order = order[:max_queries]
    dev_count = round(len(order) * dev_fraction)
    splits = {index: ("dev" if rank < dev_count else "test") for rank, index in enumerate(order)}
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "docs.jsonl", "w", encoding="utf-8") as out:
        for doc in docs:
            out.write(json.dumps(doc, ensure_ascii=False) + "\n")
    chosen = [dict(queries[i], split=splits[i]) for i in sorted(splits)]
    for name, rows in (("queries", chosen), ("dev", [q for q in chosen if q["split"] == "dev"]),
                       ("test", [q for q in chosen if q["split"] == "test"])):
        with open(out_dir / f"{name}.jsonl", "w", encoding="utf-8") as out:
            for row in rows:
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
    words = sorted(len(doc["text"].split()) for doc in docs)
    return {"docs": len(docs), "queries": len(chosen), "dev": dev_count, "test": len(chosen) - dev_count,
            "median_doc_words": words[len(words) // 2], "max_doc_words": words[-1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("/work/wt/tasks"))
    parser.add_argument("--only", default=",".join(DOMAINS), help="comma-separated domains")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for domain in args.only.split(","):
        if domain not in TASKS:
            parser.error(f"unknown domain {domain!r}; choose from {', '.join(DOMAINS)}")
        docs, queries = TASKS[domain]()
        print(domain, json.dumps(write_task(args.out / domain, docs, queries, seed=args.seed)))


if __name__ == "__main__":
    main()
