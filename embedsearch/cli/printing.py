"""Printing results: tables (drawn by rich) and index summaries for people; JSON, JSON Lines and
CSV for scripts.

The query printers (`print_answers`, `print_similarities`, `print_odd_one_out`)
print the payloads of `query.serialize`, the serializer the HTTP API uses, so
`--json` and the API never drift. `info` and `list` print the dicts of
`index.catalog`, which the API returns too; the text about an index's type,
tuning and upkeep is here, with the rest of what the terminal shows.
"""

from __future__ import annotations

import csv
import json
import sys
from typing import Sequence

import typer

MAX_CELL = 80  # characters of one table cell; the rest is cut and shown as "..."
UNSQUEEZED_WIDTH = 1000  # the width a table may take when printed to a file or a pipe
# rich's box drawing as 8 lines of 4 characters: only a rule of dashes under the header, so
# the table is plain text that greps and diffs well.
HEADER_RULE = "    \n    \n -  \n    \n    \n    \n    \n    \n"


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
    """A table drawn by rich: numbers right-aligned (floats to 4 decimals), one line per row.

    Cells are plain text (never rich markup), long ones cut to `MAX_CELL`
    characters; on a terminal the table fits its width, elsewhere it is not
    squeezed. Lines are stripped of rich's trailing padding.
    """
    from rich.box import Box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    numeric = [bool(rows) and all(isinstance(row[i], (int, float)) for row in rows)
               for i in range(len(headers))]
    table = Table(box=Box(HEADER_RULE, ascii=True), show_edge=False, padding=(0, 1, 0, 0))
    for header, is_number in zip(headers, numeric):
        table.add_column(Text(header), justify="right" if is_number else "left", no_wrap=True,
                         overflow="ellipsis")
    for row in rows:
        table.add_row(*(Text(_cell(value)) for value in row))
    terminal = sys.stdout.isatty()
    console = Console(width=None if terminal else UNSQUEEZED_WIDTH, highlight=False, emoji=False,
                      markup=False)
    with console.capture() as captured:
        console.print(table)
    if title:  # above the table, not squeezed to its width as rich's own title would be
        typer.echo(title)
    for line in captured.get().splitlines():
        typer.echo(line.rstrip())


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    text = str(value)
    return text if len(text) <= MAX_CELL else text[:MAX_CELL - 3] + "..."


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


def index_summary(manifest) -> str:
    """One line after build and reindex: type, parameters and measured recall."""
    line = f"index: {manifest.index_type} {json.dumps(manifest.index_params, sort_keys=True)}"
    tuned = _tuning_text(manifest.tuning)
    return line + (f"; {tuned}" if tuned else "")


def _tuning_text(tuning: dict | None) -> str | None:
    if not tuning:
        return None
    text = f"recall@10 {tuning.get('recall_at_10')} measured on {tuning.get('sample_queries')} queries"
    if tuning.get("target_recall") is not None:
        text += f" (target {tuning['target_recall']}"
        text += ", not reached: raise the parameters or pick another type)" \
            if tuning.get("reached") is False else ")"
    if tuning.get("max_memory"):
        text += f", memory budget {tuning['max_memory'] / 2**20:.0f} MB"
    return text


def print_index_info(info: dict) -> None:
    """`info` as labelled lines: what the index holds, its type and tuning, upkeep, encoder."""
    lines = [(key, info[key]) for key in ("path", "version", "content", "count", "dim", "metric",
                                          "index_type")]
    lines.append(("params", json.dumps(info["index_params"])))
    tuned = _tuning_text(info["tuning"])
    if (info["tuning"] or {}).get("chosen_because"):
        lines.append(("chosen by auto", f"{info['index_type']}: {info['tuning']['chosen_because']}"))
    if tuned:
        lines.append(("tuning", tuned))
    lines.append(("vectors", f"{info['rows']:,} rows, {info['vector_dtype']} on disk"))
    if info["tombstones"]:
        share = info["tombstones"] / (info["count"] + info["tombstones"])
        note = f"{info['tombstones']:,} deleted ids still in the graph ({share:.0%})"
        if info["compaction_due"]:
            note += "; compaction due: run `embedsearch compact NAME`"
        lines.append(("tombstones", note))
    encoder = info["encoder"]
    lines += [("encoder", f"{encoder['name']} ({encoder['kind']}, {encoder['spec']})"),
              ("fingerprint", encoder["fingerprint"])]
    if info.get("build"):
        lines.append(("built with", ", ".join(f"{key} {value}" for key, value in info["build"].items())))
    lines += [("size", f"{info['size_bytes'] / 1e6:.1f} MB"),
              ("updated", info["updated_at"])]
    for label, text in lines:
        typer.echo(f"{label:>12}: {text}")


def print_index_list(entries: list[dict]) -> None:
    """`list` as a table; an index that cannot be opened shows its error as its encoder."""
    print_table(["name", "items", "dim", "content", "encoder", "type"],
                [[e["name"], e.get("count", "-"), e.get("dim", "-"), e.get("content", "-"),
                  e.get("encoder", e.get("error", "")), e.get("index_type", "-")] for e in entries])
