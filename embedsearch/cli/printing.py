"""Printing results: aligned plain-text tables for people; JSON, JSON Lines and CSV for scripts.

The query printers (`print_answers`, `print_similarities`, `print_odd_one_out`)
print the payloads of `query.serialize`, the serializer the HTTP API uses, so
`--json` and the API never drift.
"""

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


HIT_COLUMNS = ("rank", "key", "score")


def print_answers(index, answers: Sequence[tuple], output: str, title: str = "") -> None:
    """(query, hits) pairs as one table each, one JSON list/object, JSON Lines, or CSV rows."""
    from ..query.serialize import answer_payload

    payloads = [answer_payload(index, query, hits) for query, hits in answers]
    corpus = index.manifest.content != "vocabulary"
    if output == "json":
        print_json(payloads[0] if len(payloads) == 1 else payloads)
    elif output == "jsonl":
        for payload in payloads:
            print_jsonl(payload)
    elif output == "csv":
        print_csv(["query", *HIT_COLUMNS] + (["text"] if corpus else []),
                  [[p["query"] if isinstance(p["query"], str) else " ".join(p["query"])]
                   + [hit[c] for c in HIT_COLUMNS] + ([hit.get("text", "")] if corpus else [])
                   for p in payloads for hit in p["hits"]])
    else:
        for payload in payloads:
            _print_hits_table(payload, corpus, title)
    if output != "jsonl":
        report_ignored(list(dict.fromkeys(w for p in payloads for w in p["ignored"])))


def _print_hits_table(payload: dict, corpus: bool, title: str) -> None:
    if not payload["hits"]:
        typer.echo(f"{title}: no results")
        return
    if "search" in payload:  # a text search: how each hit was found, and its snippet
        headers = ["#", "key", "score", "found", "snippet"]
        rows = [[hit["rank"], hit["key"], hit["score"], _found(hit), _marked(hit)]
                for hit in payload["hits"]]
    else:
        headers = ["#", "key", "score"] + (["text"] if corpus else [])
        rows = [[hit["rank"], hit["key"], hit["score"]] + ([hit.get("text", "")] if corpus else [])
                for hit in payload["hits"]]
    print_table(headers, rows, title=title)


def _found(hit: dict) -> str:
    """'v3 k1': the hit's rank in the vector and keyword lists ('-' where absent)."""
    return " ".join(f"{letter}{hit[name]['rank'] if hit[name] else '-'}"
                    for letter, name in (("v", "vector"), ("k", "keyword")))


def _marked(hit: dict) -> str:
    """The snippet with the query's words between asterisks."""
    text, marked, last = hit["snippet"], [], 0
    for start, end in hit["highlights"]:
        marked += [text[last:start], "*", text[start:end], "*"]
        last = end
    return "".join(marked) + text[last:]


def print_similarities(similarities, output: str) -> None:
    from ..query.serialize import similarity_payload

    payload = similarity_payload(similarities)
    terms, matrix = payload["terms"], payload["matrix"]
    if output == "json":
        print_json(payload)
    elif output == "jsonl":
        print_jsonl(payload)
    elif output == "csv":
        print_csv(["term", *terms], [[term, *row] for term, row in zip(terms, matrix)])
    elif len(terms) == 2:
        typer.echo(f"{terms[0]} / {terms[1]}: {payload['score']:.4f}")
    else:
        print_table([""] + terms, [[t] + row for t, row in zip(terms, matrix)])
    if output != "jsonl":
        report_ignored(payload["ignored"])


def print_odd_one_out(answer, output: str) -> None:
    from ..query.serialize import odd_one_out_payload

    payload = odd_one_out_payload(answer)
    if output == "json":
        print_json(payload)
    elif output == "jsonl":
        print_jsonl(payload)
    elif output == "csv":
        print_csv(["words", "odd_one_out"], [[" ".join(payload["words"]), payload["odd_one_out"]]])
    else:
        typer.echo(payload["odd_one_out"])
    if output != "jsonl":
        report_ignored(payload["ignored"])
