"""Which machine a request is for: loopback addresses and names, and the Host check that keeps
a keyless server out of reach of web pages (DNS rebinding: a page on evil.example whose name
is made to resolve to 127.0.0.1 would otherwise read and write the indexes).
"""

from __future__ import annotations

import ipaddress
from typing import Sequence

LOOPBACK_NAMES = ("localhost",)


def is_loopback(host: str) -> bool:
    """Whether `host` (an address or a name) only accepts connections from this machine."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def host_allowed(host_header: str | None, allowed: Sequence[str]) -> bool:
    """Whether a request's Host header names this machine or one of `allowed` (`*`: any).

        host_allowed("localhost:8000", ())  # True
        host_allowed("evil.example:8000", ())  # False: a DNS-rebinding page
    """
    if host_header is None or "*" in allowed:
        return True
    name = host_header.strip().lower()
    if name.startswith("["):
        name = name[1:name.find("]")] if "]" in name else name
    elif name.count(":") == 1:
        name = name.partition(":")[0]
    name = name.rstrip(".")
    return is_loopback(name) or name.endswith(".localhost") or \
        name in (entry.strip("[]").lower() for entry in allowed)
