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
