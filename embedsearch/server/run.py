"""Running the app under uvicorn, on loopback unless a key protects it.

A server bound to another address is reachable by anyone on the network, so
it refuses to start without an API key; the check runs before anything binds.
"""

from __future__ import annotations

import os
import socket
from typing import Sequence

from ..errors import InputError
from ..index import resolve_index_path
from .hosts import is_loopback
from .settings import Limits
from .slow_clients import MAX_CONNECTIONS, ReadDeadline

def check_bind(host: str, api_key: str | None, read_api_key: str | None) -> None:
    """An error unless `host` is loopback or a key is set."""
    if not is_loopback(host) and not (api_key or read_api_key):
        raise InputError(f"refusing to serve on {host} without an API key: anyone on the network "
                         "could read the indexes; give --api-key (or EMBEDSEARCH_API_KEY), or "
                         "bind to 127.0.0.1")


def explorer_url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    shown = f"[{shown}]" if ":" in shown and not shown.startswith("[") else shown
    return f"http://{shown}:{port}/"


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening socket (port 0: any free port), so the address is known before serving."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP, not the default 0: asyncio sets TCP_NODELAY only on accepted sockets whose
    # proto says TCP. Without it Nagle holds a response's body behind its headers until the client's
    # delayed ACK, about 40 ms on every keep-alive request.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as error:
        sock.close()
        raise InputError(f"cannot listen on {host}:{port} ({error.strerror}): "
                         "choose another --port") from None
    sock.listen(2048)
    return sock


class WorkerProcesses:
    """`workers` server processes answering on one listening socket, each with its own event
    loop and its own copy of the indexes; uvicorn's supervisor restarts a worker that dies."""

    def __init__(self, config):
        self.config = config

    def run(self, sockets: list[socket.socket]) -> None:
        from uvicorn.supervisors import Multiprocess

        Multiprocess(self.config, sockets=sockets).run()


def make_server(names: Sequence[str] | None, *, host: str = "127.0.0.1", port: int = 8000,
                api_key: str | None = None, read_api_key: str | None = None,
                allow_sql: bool = False, limits: Limits | None = None,
                log_level: str = "info", workers: int = 1, allowed_hosts: Sequence[str] = ()):
    """(server, its bound socket): call `server.run(sockets=[sock])` to serve.

    One worker is one process whose thread pool runs the searches in parallel
    (FAISS releases the GIL). More workers also run the Python around each
    request (HTTP parsing, validation, JSON) in parallel, which is what limits
    throughput with many clients; each worker holds its own copy of the indexes.
    """
    import uvicorn

    from .app import SETTINGS_VARIABLE, create_app, settings_for_workers

    if workers < 1:
        raise InputError(f"workers is {workers}: give 1 or more")
    check_bind(host, api_key, read_api_key)
    allowed_hosts = (*allowed_hosts, host.strip("[]"))
    # Built here in every case, so a bad index name fails once, before anything binds.
    app = create_app(names, api_key=api_key, read_api_key=read_api_key, limits=limits,
                     allow_sql=allow_sql, allowed_hosts=allowed_hosts)
    sock = bind_socket(host, port)
    timeouts = {"http": ReadDeadline, "limit_concurrency": MAX_CONNECTIONS,
                "timeout_keep_alive": 5}
    if workers == 1:
        return uvicorn.Server(uvicorn.Config(app, log_level=log_level, access_log=False,
                                             **timeouts)), sock
    served = [str(resolve_index_path(name)) for name in names] if names else None
    os.environ[SETTINGS_VARIABLE] = settings_for_workers(
        served, api_key=api_key, read_api_key=read_api_key, limits=limits, allow_sql=allow_sql,
        allowed_hosts=allowed_hosts)
    config = uvicorn.Config("embedsearch.server.app:app_from_environment", factory=True,
                            workers=workers, log_level=log_level, access_log=False, **timeouts)
    return WorkerProcesses(config), sock
