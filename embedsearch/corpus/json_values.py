"""Strict JSON: what every edge (HTTP bodies, JSON Lines, Parquet, item metadata) accepts.

Python's `json` reads `NaN`, `Infinity` and `1e999`, nests as deep as the C
stack allows, and keeps lone surrogates (`"\\ud800"`), none of which can be
written back as strict JSON or UTF-8: stored in an index, they break every
later answer that includes the item. These functions refuse them up front.

    strict_json_loads('{"x": NaN}')
    # ValueError: NaN and Infinity are not JSON numbers
"""

from __future__ import annotations

import json
import math

MAX_DEPTH = 64  # nesting levels of objects and arrays in one value
INT64 = (-2**63, 2**63 - 1)  # what SQLite stores and compares as an integer


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number: NaN and Infinity are not allowed")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text[:40]} is out of the range of a JSON number (a double)")
    return number


def _int64(text: str) -> int:
    number = int(text)
    if not INT64[0] <= number <= INT64[1]:
        raise ValueError(f"{text[:40]} does not fit in 64 bits")
    return number


def strict_json_loads(text: str | bytes):
    """`json.loads` that refuses non-finite numbers, integers beyond 64 bits, deep nesting and
    lone surrogates (ValueError; a `json.JSONDecodeError` for malformed JSON)."""
    try:
        value = json.loads(text, parse_constant=_no_constant, parse_float=_finite_float,
                           parse_int=_int64)
    except RecursionError:
        raise ValueError(f"nested more than {MAX_DEPTH} levels deep") from None
    check_json_value(value)
    return value


def check_json_value(value, what: str = "the value") -> None:
    """ValueError unless `value` (parsed JSON, or metadata about to be stored) holds only
    finite numbers, 64-bit integers and encodable strings, nested at most MAX_DEPTH deep."""
    pending = [(value, 0)]
    while pending:
        current, depth = pending.pop()
        if isinstance(current, float):
            if not math.isfinite(current):
                raise ValueError(f"{what} holds {current}: NaN and Infinity are not allowed")
        elif isinstance(current, int) and not isinstance(current, bool):
            if not INT64[0] <= current <= INT64[1]:
                raise ValueError(f"{what} holds an integer that does not fit in 64 bits")
        elif isinstance(current, str):
            _check_text(current, what)
        elif isinstance(current, (dict, list, tuple)):
            if depth >= MAX_DEPTH:
                raise ValueError(f"{what} is nested more than {MAX_DEPTH} levels deep")
            if isinstance(current, dict):
                for key in current:
                    if isinstance(key, str):
                        _check_text(key, what)
                children = current.values()
            else:
                children = current
            pending.extend((child, depth + 1) for child in children)


def _check_text(text: str, what: str) -> None:
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as error:
            raise ValueError(f"{what} holds a lone surrogate ({text[error.start]!r} at "
                             f"character {error.start}), which is not Unicode text") from None
