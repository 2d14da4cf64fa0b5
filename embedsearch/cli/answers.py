"""Printing query answers in the chosen format: table, --json, --jsonl or --csv.

Every payload comes from `query.results`, the serializer the HTTP API uses.
"""

from __future__ import annotations

from typing import Sequence

import typer

from .output import print_csv, print_json, print_jsonl, print_table, report_ignored

HIT_COLUMNS = ("rank", "key", "score")


def print_answers(index, answers: Sequence[tuple], output: str, title: str = "") -> None:
    """(query, hits) pairs as one table each, one JSON list/object, JSON Lines, or CSV rows."""
    from ..query.results import answer_payload

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
    headers = ["#", "key", "score"] + (["text"] if corpus else [])
    rows = [[hit["rank"], hit["key"], hit["score"]] + ([hit.get("text", "")] if corpus else [])
            for hit in payload["hits"]]
    print_table(headers, rows, title=title)


def print_similarities(similarities, output: str) -> None:
    from ..query.results import similarity_payload

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
    from ..query.results import odd_one_out_payload

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
