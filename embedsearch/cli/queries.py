"""Query commands: neighbors, analogy, most-similar, similarity, doesnt-match, rank.

Each opens the index, calls one `embedsearch.query` function, prints. The
query `-` (or --queries FILE) answers one query per line through the batch
API and streams JSON Lines.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from .app import app
from .options import (IndexOption, JsonOption, KOption, Method, MethodOption, QueriesOption,
                      StrictOption, filter_options, output_options, search_options)
from .printing import print_answers, print_odd_one_out, print_similarities

STDIN = "-"


def _open(index_name: str):
    from ..index import Index

    return Index.open(index_name)


def _batch(query: str | None, queries_file: Path | None) -> bool:
    return query == STDIN or queries_file is not None


@app.command()
@output_options
@filter_options
@search_options
def neighbors(
    query: Optional[str] = typer.Argument(None, help="A word, a text or an item key; '-' reads "
                                                     "one query per line from standard input."),
    index: str = IndexOption,
    k: int = KOption,
    strict: bool = StrictOption,
    queries_file: Optional[Path] = QueriesOption,
    *,
    where: object,
    output: str,
    searching: dict,
):
    """Nearest neighbours of a word, a text or an item; documents matching a text.

    On a corpus index a text query is answered as documents (the best chunk of each, with a
    snippet), by vectors and keywords fused (--mode hybrid, the default), --mode vector or
    --mode keyword (BM25).

    Examples (build glove-6b-50d first: embedsearch build --vectors glove-6b-50d --out glove-6b-50d):
      embedsearch neighbors computer --index glove-6b-50d -k 10
      printf 'king\\nparis\\n' | embedsearch neighbors - --index glove-6b-50d -k 3
      embedsearch neighbors "reset a forgotten password" --index notes --mode keyword --json
    """
    from .. import query as queries
    from ..query.serialize import answer_payload
    from .batch import block_lines, query_lines, stream_answers

    with _open(index) as opened:
        if _batch(query, queries_file):
            stream_answers(query_lines(queries_file),
                           lambda block: queries.neighbors_batch(opened, block, k=k, where=where,
                                                                 strict=strict, **searching),
                           lambda line, hits: answer_payload(opened, line, hits),
                           block_lines(queries_file))
            return
        if query is None:
            raise typer.BadParameter("give a query, or '-' to read queries from standard input")
        hits = queries.neighbors(opened, query, k=k, where=where, strict=strict, **searching)
        print_answers(opened, [(query, hits)], output, f"neighbours of {query!r} in {opened.name}")


@app.command()
@output_options
@filter_options
def analogy(
    a: str = typer.Argument(..., help="A (is to B), or '-' to read 'A B C' lines from "
                                      "standard input."),
    b: Optional[str] = typer.Argument(None, help="B"),
    c: Optional[str] = typer.Argument(None, help="as C is to ?"),
    index: str = IndexOption,
    k: int = KOption,
    method: Method = MethodOption,
    strict: bool = StrictOption,
    queries_file: Optional[Path] = QueriesOption,
    *,
    where: object,
    output: str,
):
    """A is to B as C is to ? (B - A + C).

    Examples (with the glove-6b-50d index built as in `embedsearch build --help`):
      embedsearch analogy man king woman --index glove-6b-50d      # queen
      printf 'man king woman\\nparis france rome\\n' | embedsearch analogy - --index glove-6b-50d
    """
    from .. import query as queries
    from ..query.serialize import answer_payload
    from .batch import block_lines, query_lines, split_terms, stream_answers

    with _open(index) as opened:
        if _batch(a, queries_file):
            def answer(lines):
                return queries.analogies(opened, [_three(line) for line in lines], k=k,
                                         method=method.value, where=where, strict=strict)

            stream_answers(query_lines(queries_file), answer,
                           lambda line, hits: answer_payload(opened, split_terms(line), hits),
                           block_lines(queries_file))
            return
        if b is None or c is None:
            raise typer.BadParameter("give three terms A B C, or '-' to read them from standard input")
        hits = queries.analogy(opened, a, b, c, k=k, method=method.value, where=where, strict=strict)
        print_answers(opened, [([a, b, c], hits)], output, f"{a} : {b} :: {c} : ?")


def _three(line: str) -> tuple[str, str, str]:
    from ..errors import InputError
    from .batch import split_terms

    terms = split_terms(line)
    if len(terms) != 3:
        raise InputError(f"an analogy line needs three terms A B C, not {len(terms)}: {line!r}")
    return tuple(terms)


@app.command("most-similar")
@output_options
@filter_options
def most_similar(
    positive: List[str] = typer.Option(..., "--positive", "-p", help="A term to move towards "
                                                                     "(repeatable)."),
    negative: Optional[List[str]] = typer.Option(None, "--negative", "-n",
                                                 help="A term to move away from (repeatable)."),
    index: str = IndexOption,
    k: int = KOption,
    method: Method = MethodOption,
    strict: bool = StrictOption,
    *,
    where: object,
    output: str,
):
    """gensim's most_similar: items nearest the positive terms and far from the negative ones.

    Example (with the glove-6b-50d index built as in `embedsearch build --help`):
      embedsearch most-similar -p king -p woman -n man --index glove-6b-50d
    """
    from .. import query as queries

    with _open(index) as opened:
        hits = queries.most_similar(opened, positive, negative or [], k=k, method=method.value,
                                    where=where, strict=strict)
        query = {"positive": list(positive), "negative": list(negative or [])}
        print_answers(opened, [(query, hits)], output,
                      f"+{' +'.join(positive)}" + "".join(f" -{n}" for n in negative or []))


@app.command()
@output_options
def similarity(
    terms: List[str] = typer.Argument(..., help="Two or more words or texts; '-' reads one set "
                                                "per line (tab- or space-separated)."),
    index: str = IndexOption,
    strict: bool = StrictOption,
    queries_file: Optional[Path] = QueriesOption,
    *,
    output: str,
):
    """Cosine similarity of two words or texts, or a matrix for several.

    Examples (with the glove-6b-50d index built as in `embedsearch build --help`):
      embedsearch similarity woman man --index glove-6b-50d
      embedsearch similarity king queen prince --index glove-6b-50d --csv
    """
    from .. import query as queries
    from ..errors import InputError
    from ..query.serialize import similarity_payload
    from .batch import block_lines, query_lines, stream_answers

    with _open(index) as opened:
        if _batch(terms[0], queries_file):
            stream_answers(query_lines(queries_file),
                           lambda lines: [queries.compare(opened, _two_or_more(line), strict=strict)
                                          for line in lines],
                           lambda line, answer: similarity_payload(answer),
                           block_lines(queries_file))
            return
        if len(terms) < 2:
            raise InputError("give at least two words or texts to compare")
        print_similarities(queries.compare(opened, terms, strict=strict), output)


def _two_or_more(line: str) -> list[str]:
    from ..errors import InputError
    from .batch import split_terms

    terms = split_terms(line)
    if len(terms) < 2:
        raise InputError(f"a similarity line needs at least two terms: {line!r}")
    return terms


@app.command("doesnt-match")
@output_options
def doesnt_match(
    words: List[str] = typer.Argument(..., help="Three or more words."),
    index: str = IndexOption,
    strict: bool = StrictOption,
    *,
    output: str,
):
    """The word that does not belong with the others.

    Example (with the glove-6b-50d index built as in `embedsearch build --help`):
      embedsearch doesnt-match breakfast cereal dinner lunch --index glove-6b-50d
    """
    from .. import query as queries

    with _open(index) as opened:
        print_odd_one_out(queries.odd_one_out(opened, words, strict=strict), output)


@app.command()
def rank(
    first: str = typer.Argument(..., help="The word or text whose neighbours are ranked."),
    second: str = typer.Argument(..., help="The word or text whose rank is wanted."),
    index: str = IndexOption,
    as_json: bool = JsonOption,
):
    """Where SECOND comes among the neighbours of FIRST (gensim's rank; 1 = nearest).

    Example (with the glove-6b-50d index built as in `embedsearch build --help`):
      embedsearch rank king queen --index glove-6b-50d
    """
    from .. import query as queries
    from .printing import print_json

    with _open(index) as opened:
        position = queries.rank(opened, first, second)
    if as_json:
        print_json({"first": first, "second": second, "rank": position})
    else:
        typer.echo(position)
