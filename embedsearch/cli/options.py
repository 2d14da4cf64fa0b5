"""Options shared by several commands, each declared once and checked before any index is opened.

Single options are typer values (`IndexOption`, `KOption`, ...); a set of
options that together make one value is a decorator (sqlite-utils'
`output_options` pattern): `@output_options` adds --json, --jsonl and --csv
and hands the command `output`, one of 'json', 'jsonl', 'csv', 'table';
`@filter_options` adds --where and --filter and hands it `where`.

    @app.command()
    @output_options
    def neighbors(query: str = typer.Argument(...), *, output: str):
        ...

`-k` is capped (default 1,000; EMBEDSEARCH_MAX_K changes it) so a typo does
not print 400,000 rows. Choices are Enums, so `--help` lists them and a
wrong value is a usage error naming them.
"""

from __future__ import annotations

import functools
import inspect
import os
import typing
from enum import Enum
from pathlib import Path
from typing import Callable, Optional

import click
import typer

MAX_K_VARIABLE = "EMBEDSEARCH_MAX_K"
DEFAULT_MAX_K = 1000


class Unit(str, Enum):
    """What one item of a text file is."""

    auto = "auto"
    line = "line"
    paragraph = "paragraph"
    document = "document"


class Method(str, Enum):
    """How an analogy is scored: 3CosAdd or 3CosMul."""

    add = "add"
    mul = "mul"


class VectorDtype(str, Enum):
    """How the raw vectors are stored on disk."""

    float32 = "float32"
    float16 = "float16"


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


IndexOption = typer.Option(..., "--index", "-i",
                           help="Index name (under indexes/ or $EMBEDSEARCH_HOME) or a path "
                                "containing a slash.")
KOption = typer.Option(10, "-k", min=1, callback=_check_k,
                       help=f"How many results (at most {DEFAULT_MAX_K:,}; ${MAX_K_VARIABLE}).")
MethodOption = typer.Option(Method.add, "--method",
                            help="add = 3CosAdd (gensim's most_similar), mul = 3CosMul.")
StrictOption = typer.Option(False, "--strict",
                            help="Fail on any unknown word instead of ignoring it.")
QueriesOption: Optional[Path] = typer.Option(
    None, "--queries", exists=True, dir_okay=False,
    help="Answer one query per line of this file (as with the query '-' for standard input).")
JsonOption = typer.Option(False, "--json", help="Print JSON instead of text.")
RecallOption = typer.Option(None, "--recall", help="Tune efSearch/nprobe until recall@10 against "
                                                   "exact search reaches this (default 0.95 with "
                                                   "the type auto).")
MaxMemoryOption = typer.Option(None, "--max-memory",
                               help="Memory budget of the FAISS index for auto, e.g. 512MB.")
ParamOption = typer.Option(None, "--param", help="Index parameter NAME=VALUE, repeatable (M, "
                                                 "efConstruction, efSearch, nlist, nprobe, m, "
                                                 "nbits, rerank).")
UnitOption = typer.Option(Unit.auto, "--unit", help="Text files: one item per line, paragraph or "
                                                     "whole file (document); auto: each file of a "
                                                     "folder is a document, a single file's lines "
                                                     "are items. Markdown, HTML and PDF are always "
                                                     "whole files.")
TrainUnitOption = typer.Option(Unit.line, "--unit", help="Text files: one sentence per line, "
                                                          "paragraph or whole file (document).")
TextFieldOption = typer.Option("text", "--text-field", help="JSON Lines: the field holding the text.")
KeyFieldOption = typer.Option(None, "--key-field",
                              help="JSON Lines: the field holding a unique key.")


def add_options(command: Callable, added: list[inspect.Parameter], fill: Callable[[dict], dict],
                replaced: tuple[str, ...] = ()) -> Callable:
    """`command` with the typer options `added` (keyword-only parameters) in its signature.

    The wrapper calls `fill` with the options' values (it pops the ones it
    uses) and passes what it returns on to `command`; `replaced` names the
    command's own parameters that `fill` supplies.
    """
    signature = inspect.signature(command)
    hints = typing.get_type_hints(command)  # resolved, whatever `from __future__` did
    kept = [p.replace(annotation=hints.get(name, p.annotation))
            for name, p in signature.parameters.items() if name not in replaced]
    clashes = {p.name for p in kept} & {p.name for p in added}
    if clashes:
        raise TypeError(f"options declared twice on {command.__name__}: {sorted(clashes)}")

    @functools.wraps(command)
    def wrapper(**options):
        filled = fill(options)
        return command(**options, **filled)

    parameters = kept + added
    wrapper.__signature__ = signature.replace(parameters=parameters)
    wrapper.__annotations__ = {p.name: p.annotation for p in parameters}
    return wrapper


def option_set(produces: str, options: dict[str, tuple[object, typer.models.OptionInfo]],
               combine: Callable):
    """A decorator adding `options` (name -> (type, typer.Option)) to a command, whose
    argument `produces` receives `combine(**their values)`."""
    added = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=declaration,
                               annotation=kind) for name, (kind, declaration) in options.items()]

    def fill(values: dict) -> dict:
        return {produces: combine(**{name: values.pop(name) for name in options})}

    def decorate(command):
        return add_options(command, added, fill, replaced=(produces,))

    return decorate


def output_format(as_json: bool, as_jsonl: bool, as_csv: bool) -> str:
    """'json', 'jsonl', 'csv' or 'table'; more than one flag is a usage error."""
    chosen = [name for name, flag in zip(("json", "jsonl", "csv"), (as_json, as_jsonl, as_csv))
              if flag]
    if len(chosen) > 1:
        raise click.UsageError(f"choose one output format, not {' and '.join('--' + c for c in chosen)}")
    return chosen[0] if chosen else "table"


def search_filter(where: str | None, filter_json: str | None):
    """The search filter: --where (SQL) or --filter (JSON), not both."""
    if where is not None and filter_json is not None:
        raise typer.BadParameter("give --where (SQL) or --filter (JSON), not both")
    if filter_json is not None:
        from ..index.filters import parse_filter

        return parse_filter(filter_json)
    return where


output_options = option_set("output", {
    "as_json": (bool, typer.Option(False, "--json", help="Print one JSON document.")),
    "as_jsonl": (bool, typer.Option(False, "--jsonl", help="Print JSON Lines: one answer per line.")),
    "as_csv": (bool, typer.Option(False, "--csv", help="Print CSV with a header row.")),
}, output_format)

filter_options = option_set("where", {
    "where": (Optional[str], typer.Option(
        None, "--where", "-w", help="SQL filter over item columns, e.g. \"source = 'a.txt'\".")),
    "filter_json": (Optional[str], typer.Option(
        None, "--filter", "-f", help='JSON filter over item columns and metadata, e.g. '
                                     '\'{"source": "a.txt", "year": {"$gte": 2020}}\'.')),
}, search_filter)


class Mode(str, Enum):
    """How a text query on a corpus index is answered."""

    vector = "vector"
    keyword = "keyword"
    hybrid = "hybrid"


class Fusion(str, Enum):
    """How hybrid search fuses the keyword and vector lists."""

    rrf = "rrf"
    mix = "mix"


def text_search_settings(mode: Mode | None, fusion: Fusion | None, alpha: float | None,
                         chunks: bool) -> dict:
    """The text-search settings of --mode, --fusion, --alpha and --chunks, checked."""
    from ..query.search import search_settings

    return search_settings(mode.value if mode else None, fusion.value if fusion else None,
                           alpha, chunks)


ModeOption = typer.Option(None, "--mode", help="Text queries on a corpus index: vector, keyword "
                                                "(BM25) or hybrid (both fused; the default where "
                                                "the index has a full-text index).")
FusionOption = typer.Option(None, "--fusion", help="How hybrid fuses the lists: rrf (reciprocal "
                                                   "rank) or mix (min-max normalised scores); "
                                                   "default in docs/search.md.")
AlphaOption = typer.Option(None, "--alpha", min=0.0, max=1.0,
                           help="Hybrid: the vector list's weight, 0 to 1 (1 - alpha for keywords).")
ChunksOption = typer.Option(False, "--chunks",
                            help="Return raw chunks instead of one best chunk per document.")

search_options = option_set("searching", {
    "mode": (Optional[Mode], ModeOption),
    "fusion": (Optional[Fusion], FusionOption),
    "alpha": (Optional[float], AlphaOption),
    "chunks": (bool, ChunksOption),
}, text_search_settings)
