"""`embedsearch serve`: the HTTP API and the web explorer over one or more indexes."""

from __future__ import annotations

from typing import List, Optional

import typer

from .app import app


@app.command()
def serve(
    names: Optional[List[str]] = typer.Argument(
        None, help="Indexes to serve (names under indexes/ or paths); default: all of them."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on; anything but "
                                                         "loopback needs --api-key."),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="Port (0: any free port)."),
    api_key: Optional[str] = typer.Option(None, "--api-key", envvar="EMBEDSEARCH_API_KEY",
                                          help="Bearer key that may read and write."),
    read_api_key: Optional[str] = typer.Option(None, "--read-api-key",
                                               envvar="EMBEDSEARCH_READ_API_KEY",
                                               help="Bearer key that may only read."),
    allow_sql: bool = typer.Option(False, "--allow-sql",
                                   help="Accept raw SQL 'where' filters (sandboxed, time-limited)."),
    allowed_host: Optional[List[str]] = typer.Option(
        None, "--allowed-host", help="A Host name a keyless server also answers besides "
                                     "localhost (e.g. behind a reverse proxy); repeatable."),
    workers: int = typer.Option(1, "--workers", min=1, max=64,
                                help="Server processes; more answer more clients at once (each "
                                     "holds its own copy of the indexes)."),
):
    """Serve indexes over HTTP, with the web explorer at /.

    Examples:
      embedsearch serve glove-6b-50d
      embedsearch serve notes --host 0.0.0.0 --port 8080 --api-key "$KEY"
      embedsearch serve glove-6b-50d --workers 2
    """
    try:
        from ..server.run import explorer_url, make_server
        import fastapi, uvicorn  # noqa: F401,E401
    except ImportError as error:
        from ..errors import InputError

        raise InputError(f"embedsearch serve needs the server extra ({error.name} is missing): "
                         "pip install 'embedsearch[server]'") from None

    server, sock = make_server(names or None, host=host, port=port, api_key=api_key,
                               read_api_key=read_api_key, allow_sql=allow_sql, workers=workers,
                               allowed_hosts=allowed_host or ())
    bound_port = sock.getsockname()[1]
    typer.echo(f"explorer: {explorer_url(host, bound_port)}  "
               f"(API docs: {explorer_url(host, bound_port)}docs; Ctrl-C stops)")
    server.run(sockets=[sock])
