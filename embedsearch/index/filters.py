"""Typed JSON filters, in the style of Chroma and Qdrant, turned into parameterised SQL.

A filter is a JSON object. Each field names an item column (`id`, `key`,
`text`, `source`, `position`) or a metadata field (any other name, or
`metadata.NAME` explicitly), and holds a value (equality) or an object of
operators: `$eq`, `$ne`, `$gt`, `$gte`, `$lt`, `$lte`, `$in`, `$nin`,
`$contains` (substring). Several fields in one object must all match;
`$and`, `$or` (lists of filters) and `$not` (one filter) combine them. A
missing metadata field matches no comparison (SQL NULL), and `null` as a
value asks for a missing or null field.

Values never reach the SQL text: every one is a bound parameter, and field
names are checked against a strict pattern and bound as JSON paths, so a
filter from a remote client cannot change the statement. The result is a
`Where`, accepted wherever a `where` SQL string is.

>>> parse_filter({"source": "a.txt", "year": {"$gte": 2020}}).sql
'(source = ? AND json_extract(metadata, ?) >= ?)'
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from ..errors import FilterError

ITEM_COLUMNS = ("id", "key", "text", "source", "position")
COMPARISONS = {"$eq": "=", "$ne": "!=", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
SET_OPERATORS = {"$in": "IN", "$nin": "NOT IN"}
FIELD_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*(\.[A-Za-z_][A-Za-z0-9_\-]*)*$")
MAX_DEPTH = 32
MAX_IN_VALUES = 10_000
FILTER_HELP = ('e.g. {"source": "a.txt"}, {"year": {"$gte": 2020}}, '
               '{"$or": [{"lang": "en"}, {"lang": {"$in": ["fr", "de"]}}]}')


@dataclass(frozen=True)
class Where:
    """A SQL condition over the items table with its bound parameters.

    `sandboxed` runs it under the SQL sandbox (`sql_guard`): only the items
    table and a short list of functions may be used. `time_limit` (seconds)
    stops it when it runs longer; None uses the reader's default.
    """

    sql: str
    params: tuple = ()
    sandboxed: bool = False
    time_limit: float | None = None

    def __bool__(self) -> bool:
        return bool(self.sql)


def untrusted_sql(sql: str, time_limit: float | None = None) -> Where:
    """A raw SQL condition from a remote client: run only inside the sandbox."""
    if not isinstance(sql, str) or not sql.strip():
        raise FilterError("the SQL filter is empty: give a condition such as \"source = 'a.txt'\"")
    return Where(sql, (), sandboxed=True, time_limit=time_limit)


def parse_filter(spec: dict | str, time_limit: float | None = None) -> Where:
    """A JSON filter (a dict, or its JSON text) as a parameterised `Where`."""
    if isinstance(spec, str):
        try:
            spec = json.loads(spec)
        except json.JSONDecodeError as error:
            raise FilterError(f"the filter is not valid JSON ({error.msg} at character "
                             f"{error.pos}): {FILTER_HELP}") from None
    params: list = []
    sql = _condition(spec, params, depth=0)
    return Where(sql, tuple(params), time_limit=time_limit)


def _condition(spec: Any, params: list, depth: int) -> str:
    if depth > MAX_DEPTH:
        raise FilterError(f"the filter nests deeper than {MAX_DEPTH} levels")
    if not isinstance(spec, dict) or not spec:
        raise FilterError(f"a filter must be a non-empty JSON object, not {json.dumps(spec)}: "
                         f"{FILTER_HELP}")
    parts = []
    for name, value in spec.items():
        if name in ("$and", "$or"):
            if not isinstance(value, list) or not value:
                raise FilterError(f"{name} takes a non-empty list of filters")
            joined = f" {name[1:].upper()} ".join(_condition(v, params, depth + 1) for v in value)
            parts.append(f"({joined})")
        elif name == "$not":
            parts.append(f"NOT {_condition(value, params, depth + 1)}")
        elif name.startswith("$"):
            raise FilterError(f"unknown filter operator {name!r} at the top of a filter: "
                             "use $and, $or, $not, or a field name")
        else:
            parts.append(_field_condition(name, value, params))
    return parts[0] if len(parts) == 1 and parts[0].startswith("(") else f"({' AND '.join(parts)})"


def _field_sql(name: str, params: list) -> str:
    """The SQL expression of a field: a column, or json_extract of metadata with a bound path."""
    if not isinstance(name, str) or not FIELD_PATTERN.match(name):
        raise FilterError(f"bad filter field {name!r}: use letters, digits, _ and -, "
                         "dots for nested metadata")
    if name in ITEM_COLUMNS:
        return name
    path = name.removeprefix("metadata.")
    params.append("$." + ".".join(f'"{part}"' for part in path.split(".")))
    return "json_extract(metadata, ?)"


def _field_condition(name: str, value: Any, params: list) -> str:
    if not isinstance(value, dict):
        value = {"$eq": value}
    if not value:
        raise FilterError(f"filter field {name!r} has an empty operator object")
    parts = []
    for operator, operand in value.items():
        column = _field_sql(name, params)
        if operator in COMPARISONS:
            if operand is None and operator in ("$eq", "$ne"):
                parts.append(f"{column} IS {'NOT ' if operator == '$ne' else ''}NULL")
                continue
            params.append(_scalar(name, operator, operand))
            parts.append(f"{column} {COMPARISONS[operator]} ?")
        elif operator in SET_OPERATORS:
            if not isinstance(operand, list) or not operand or len(operand) > MAX_IN_VALUES:
                raise FilterError(f"{operator} on {name!r} takes a list of 1 to "
                                 f"{MAX_IN_VALUES:,} values")
            params.extend(_scalar(name, operator, v) for v in operand)
            parts.append(f"{column} {SET_OPERATORS[operator]} ({','.join('?' * len(operand))})")
        elif operator == "$contains":
            if not isinstance(operand, str):
                raise FilterError(f"$contains on {name!r} takes a string")
            params.append(operand)
            parts.append(f"instr({column}, ?) > 0")
        else:
            known = ", ".join(list(COMPARISONS) + list(SET_OPERATORS) + ["$contains"])
            raise FilterError(f"unknown operator {operator!r} on {name!r}: use one of {known}")
    return " AND ".join(parts)


def _scalar(name: str, operator: str, value: Any):
    """A bound value: a string or a number (true/false as 1/0, as SQLite's JSON gives them)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (str, int, float)):
        return value
    raise FilterError(f"{operator} on {name!r} compares with a string, a number or a boolean, "
                     f"not {json.dumps(value)}")
