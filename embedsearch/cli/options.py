"""Options shared by the query commands, each checked before any index is opened.

`-k` is capped (default 1,000; EMBEDSEARCH_MAX_K changes it) so a typo does
not print 400,000 rows; exactly one output format may be chosen.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import click
import typer

MAX_K_VARIABLE = "EMBEDSEARCH_MAX_K"
DEFAULT_MAX_K = 1000
FORMATS = ("json", "jsonl", "csv")


def max_k() -> int:
    """The largest -k a query may ask for: $EMBEDSEARCH_MAX_K, else 1,000."""
    text = os.environ.get(MAX_K_VARIABLE, str(DEFAULT_MAX_K))
    if not text.isdigit() or int(text) < 1:
        raise typer.BadParameter(f"{MAX_K_VARIABLE}={text!r} must be a positive whole number")
    return int(text)


def _check_k(value: int) -> int:
    if value > max_k():
        raise typer.BadParameter(f"{value} is above the limit of {max_k():,} results "
                                 f"(set {MAX_K_VARIABLE} to raise it)")
    return value


def one_of(*values: str):
    """A callback refusing any value but `values` (this typer has no click_type=Choice)."""
    def check(value):
        if value is not None and value not in values:
            raise typer.BadParameter(f"{value!r} is not one of: {', '.join(values)}")
        return value

    return check


def output_format(as_json: bool, as_jsonl: bool, as_csv: bool) -> str:
    """'json', 'jsonl', 'csv' or 'table'; more than one flag is a usage error."""
    chosen = [name for name, flag in zip(FORMATS, (as_json, as_jsonl, as_csv)) if flag]
    if len(chosen) > 1:
        raise click.UsageError(f"choose one output format, not {' and '.join('--' + c for c in chosen)}")
    return chosen[0] if chosen else "table"


IndexOption = typer.Option(..., "--index", "-i",
                           help="Index name (under indexes/ or $EMBEDSEARCH_HOME) or a path "
                                "containing a slash.")
KOption = typer.Option(10, "-k", min=1, callback=_check_k,
                       help=f"How many results (at most {DEFAULT_MAX_K:,}; ${MAX_K_VARIABLE}).")
WhereOption = typer.Option(None, "--where", "-w",
                           help="SQL filter over item columns, e.g. \"source = 'a.txt'\".")
MethodOption = typer.Option("add", "--method", callback=one_of("add", "mul"),
                            help="add = 3CosAdd (most_similar), mul = 3CosMul.")
StrictOption = typer.Option(False, "--strict",
                            help="Fail on any unknown word instead of ignoring it.")
JsonOption = typer.Option(False, "--json", help="Print one JSON document.")
JsonlOption = typer.Option(False, "--jsonl", help="Print JSON Lines: one answer per line.")
CsvOption = typer.Option(False, "--csv", help="Print CSV with a header row.")
QueriesOption: Optional[Path] = typer.Option(
    None, "--queries", exists=True, dir_okay=False,
    help="Answer one query per line of this file (as with the query '-' for standard input).")
FilterOption = typer.Option(None, "--filter", "-f",
                            help='JSON filter over item columns and metadata, e.g. '
                                 '\'{"source": "a.txt", "year": {"$gte": 2020}}\'.')


def search_filter(where: str | None, filter_json: str | None):
    """The search filter: --where (SQL) or --filter (JSON), not both."""
    if where is not None and filter_json is not None:
        raise typer.BadParameter("give --where (SQL) or --filter (JSON), not both")
    if filter_json is not None:
        from ..index.filters import parse_filter

        return parse_filter(filter_json)
    return where


ModeOption = typer.Option(None, "--mode", callback=one_of("vector", "keyword", "hybrid"),
                          help="Text queries on a corpus index: vector, keyword (BM25) or hybrid "
                               "(both fused; the default where the index has a full-text index).")
FusionOption = typer.Option(None, "--fusion", callback=one_of("rrf", "mix"),
                            help="How hybrid fuses the lists: rrf (reciprocal rank) or mix "
                                 "(min-max normalised scores); default in docs/search.md.")
AlphaOption = typer.Option(None, "--alpha", min=0.0, max=1.0,
                           help="Hybrid: the vector list's weight, 0 to 1 (1 - alpha for keywords).")
ChunksOption = typer.Option(False, "--chunks",
                            help="Return raw chunks instead of one best chunk per document.")


def search_options(mode: str | None, fusion: str | None, alpha: float | None,
                   chunks: bool) -> dict:
    """The text-search settings of --mode, --fusion, --alpha and --chunks, checked."""
    from ..query.search import search_settings

    return search_settings(mode, fusion, alpha, chunks)
