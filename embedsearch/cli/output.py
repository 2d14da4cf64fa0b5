"""Printing results: aligned plain-text tables for people; JSON, JSON Lines and CSV for scripts."""

from __future__ import annotations

import csv
import json
import sys
from typing import Sequence

import typer


def print_json(data) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2))


def print_jsonl(data) -> None:
    """One compact JSON object on one line, flushed so a pipe sees it at once."""
    typer.echo(json.dumps(data, ensure_ascii=False))
    sys.stdout.flush()


def print_csv(headers: Sequence[str], rows: Sequence[Sequence]) -> None:
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(headers)
    writer.writerows(rows)


def report_ignored(ignored: Sequence[str]) -> None:
    """One stderr line naming the query words the vectors do not know (use --strict to fail)."""
    if ignored:
        typer.echo(f"ignored (not in the vocabulary): {', '.join(ignored)}", err=True)


def print_table(headers: Sequence[str], rows: Sequence[Sequence], *, title: str | None = None) -> None:
    """Columns padded to their widest cell; numbers right-aligned."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    numeric = [all(isinstance(row[i], (int, float)) for row in rows) and rows for i in range(len(headers))]
    if title:
        typer.echo(title)

    def line(values):
        return "  ".join(v.rjust(w) if numeric[i] else v.ljust(w)
                         for i, (v, w) in enumerate(zip(values, widths))).rstrip()

    typer.echo(line(headers))
    typer.echo("  ".join("-" * w for w in widths))
    for row in cells:
        typer.echo(line(row))


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "..."
