"""What a server instance serves and the limits it enforces, fixed when the app is created."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Limits:
    """Caps on what one request may ask for, checked before any work is done."""

    max_k: int = 1000  # neighbours per query
    max_batch: int = 1000  # queries in one /search, terms in one /similarity
    max_results: int = 20_000  # hits in one answer (queries x k in one /search)
    max_exclude: int = 1000  # keys one neighbours query may exclude
    max_body_bytes: int = 4 * 2**20  # request body
    max_projection: int = 2000  # points on one map
    max_items: int = 10_000  # items in one write
    sql_time_limit: float = 2.0  # seconds a filter may run


@dataclass(frozen=True)
class Settings:
    """The indexes served (None: every index under the home), keys, limits and raw-SQL policy.

    `api_key` may read and write; `read_api_key` may only read. With neither,
    every request is allowed (the server then binds to loopback only), provided its
    `Host` header names this machine (loopback) or one of `allowed_hosts` (`*`: any),
    so a web page cannot reach the server through DNS rebinding.
    """

    names: tuple[str, ...] | None = None
    api_key: str | None = None
    read_api_key: str | None = None
    allow_sql: bool = False
    limits: Limits = field(default_factory=Limits)
    allowed_hosts: tuple[str, ...] = ()  # Host names a keyless server answers besides loopback
