"""Batch queries from the shell: one query per line of standard input or a file, JSON Lines out.

`embedsearch neighbors - --index NAME < words.txt` answers every line through
the batch API (`query.neighbors_batch`: one index search per block of lines;
`query.analogies` for analogies) and prints each answer as soon as its block
is done. A line that cannot be answered (an unknown word) becomes an
`{"query", "error"}` line; the others are still answered.
"""

from __future__ import annotations

from itertools import islice
from pathlib import Path
from typing import Callable, Iterator

import typer

from .printing import print_jsonl

BLOCK_LINES = 1024  # queries answered per batch call: big enough for FAISS threads, small to stream


def block_lines(queries_file: Path | None) -> int:
    """Lines per block: a person typing at a terminal gets each answer at once."""
    return 1 if queries_file is None and typer.get_text_stream("stdin").isatty() else BLOCK_LINES


def query_lines(queries_file: Path | None) -> Iterator[str]:
    """Non-blank lines of `queries_file`, or of standard input, stripped."""
    stream = open(queries_file, encoding="utf-8") if queries_file else typer.get_text_stream("stdin")
    with stream:
        for line in stream:
            if line.strip():
                yield line.strip()


def split_terms(line: str) -> list[str]:
    """A line's terms: tab-separated if it has tabs (texts), else whitespace-separated (words)."""
    return [part.strip() for part in line.split("\t")] if "\t" in line else line.split()


def stream_answers(queries: Iterator, answer_block: Callable[[list], list],
                   payload: Callable, block_size: int = BLOCK_LINES) -> None:
    """Answer `queries` in blocks through `answer_block`; print each `payload` as a JSON line."""
    from ..errors import EmbedsearchError
    from ..query.serialize import error_payload
    from .errors import cli_message

    while block := list(islice(queries, block_size)):
        try:
            answers = [payload(query, answer) for query, answer in zip(block, answer_block(block))]
        except EmbedsearchError:  # answer line by line, so one bad line does not sink the rest
            answers = []
            for query in block:
                try:
                    answers.append(payload(query, answer_block([query])[0]))
                except EmbedsearchError as error:
                    answers.append(error_payload(query, cli_message(str(error))))
        for answer in answers:
            print_jsonl(answer)
