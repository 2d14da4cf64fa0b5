"""The HTTP interface: a FastAPI app over the same read and write functions as the CLI,
and the web explorer (static files, no build step) at `/`.

`create_app` builds the application; `run.serve` checks the bind address
against the keys and runs it under uvicorn (`embedsearch serve`).
"""

from .app import create_app
from .settings import Limits, Settings

__all__ = ["Limits", "Settings", "create_app"]
