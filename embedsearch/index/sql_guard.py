"""Guards around user SQL: a time limit for every filter, and a sandbox for untrusted ones.

Every filter runs under a time limit, enforced by SQLite's progress handler
(called every few thousand virtual-machine steps), so a filter that would
never end (a recursive CTE without a stop) fails with a message instead of
hanging the command or the server. The deadline is per thread, so one
connection serves concurrent requests, each with its own limit.

A sandboxed connection, for SQL from remote clients, also has an authorizer
that allows reading the items table and calling a short list of pure
functions, and refuses everything else: other tables (sqlite_master), ATTACH,
PRAGMA, load_extension, writes, recursive CTEs. The connection is read-only
besides, so even a hole in that list could not change the index.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import contextmanager

from ..errors import FilterError

DEFAULT_TIME_LIMIT = 10.0  # seconds; the CLI's --where and the Python API
PROGRESS_STEPS = 5000  # SQLite VM instructions between two deadline checks
ALLOWED_FUNCTIONS = frozenset({
    "abs", "coalesce", "glob", "ifnull", "iif", "instr", "length", "like", "lower", "ltrim",
    "max", "min", "nullif", "round", "rtrim", "substr", "substring", "trim", "typeof", "upper",
    "json_extract", "json_type", "json_array_length", "->", "->>", "date", "datetime",
    "julianday", "strftime", "unixepoch",
})

# Authorizer action codes a refusal can name (their values overlap SQLITE_OK / DENY).
ACTION_NAMES = ("ATTACH", "DETACH", "PRAGMA", "INSERT", "UPDATE", "DELETE", "TRANSACTION",
                "CREATE_TABLE", "CREATE_TEMP_TABLE", "CREATE_INDEX", "CREATE_VIEW",
                "CREATE_TRIGGER", "DROP_TABLE", "DROP_INDEX", "DROP_VIEW", "DROP_TRIGGER",
                "ALTER_TABLE", "REINDEX", "ANALYZE", "CREATE_VTABLE", "DROP_VTABLE",
                "SAVEPOINT", "RECURSIVE")

_state = threading.local()


class FilterTimeoutError(FilterError):
    """A filter ran longer than its time limit and was stopped."""


def install_time_limit(connection: sqlite3.Connection) -> None:
    """Let `time_limit` stop statements running on this connection."""
    connection.set_progress_handler(_past_deadline, PROGRESS_STEPS)


def _past_deadline() -> int:
    deadline = getattr(_state, "deadline", None)
    return 1 if deadline is not None and time.monotonic() > deadline else 0


@contextmanager
def time_limit(seconds: float | None):
    """Statements run in this block (on this thread) stop after `seconds` with a clear error."""
    seconds = DEFAULT_TIME_LIMIT if seconds is None else seconds
    previous = getattr(_state, "deadline", None)
    _state.deadline = time.monotonic() + seconds
    try:
        yield
    except sqlite3.OperationalError as error:
        if "interrupted" not in str(error):
            raise
        raise FilterTimeoutError(f"the filter ran longer than {seconds:g} s and was stopped: "
                                 "simplify it (no unbounded recursion or self-joins)") from None
    finally:
        _state.deadline = previous


def sandboxed_connection(path, table: str) -> sqlite3.Connection:
    """A read-only connection that may only read `table` and call `ALLOWED_FUNCTIONS`."""
    connection = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True,
                                 check_same_thread=False)
    install_time_limit(connection)
    connection.set_authorizer(_authorizer(table))
    return connection


def _authorizer(table: str):
    def authorize(action, first, second, database, trigger):
        if action == sqlite3.SQLITE_SELECT:
            return sqlite3.SQLITE_OK
        # A read of no column (counting rows, a cross join) comes with no database name.
        if action == sqlite3.SQLITE_READ and first == table and database in ("main", None):
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_FUNCTION and (second or "").lower() in ALLOWED_FUNCTIONS:
            return sqlite3.SQLITE_OK
        if getattr(_state, "refused", None) is None:  # the first refusal is the one to name
            _state.refused = _describe(action, first, second)
        return sqlite3.SQLITE_DENY

    return authorize


def forget_refusal() -> None:
    """Start a statement with no refusal recorded."""
    _state.refused = None


def last_refusal() -> str:
    """What the sandbox first refused in this thread's last statement, for the error message."""
    return getattr(_state, "refused", None) or "a statement outside the sandbox"


def _describe(action: int, first, second) -> str:
    if action == sqlite3.SQLITE_FUNCTION:
        return f"the function {second}()"
    if action == sqlite3.SQLITE_READ:
        return f"reading {first}"
    names = {getattr(sqlite3, f"SQLITE_{name}", None): name.replace("_", " ")
             for name in ACTION_NAMES}
    return names.get(action, f"action {action}")
