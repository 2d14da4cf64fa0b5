"""The `--ray`, `--ray-address` and `--workers` options shared by build, add and rebuild.

`engine_for` turns them into the engine the write path takes: None (this
process) or a `RayEngine`, imported only when asked for, so that a machine
without Ray never imports it.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Optional

import typer

RayOption = typer.Option(False, "--ray", help="Read and encode on Ray (a local cluster unless "
                                              "--ray-address); needs embedsearch\\[distributed].")
RayAddressOption = typer.Option(None, "--ray-address",
                                help="Join the Ray cluster at HOST:PORT (implies --ray).")
WorkersOption = typer.Option(1, "--workers", min=1, help="With --ray: how many encoder actors.")


def engine_for(ray: bool, ray_address: Optional[str], workers: int):
    """A context manager giving the engine: None for this process, or a connected RayEngine."""
    if not ray and ray_address is None:
        if workers != 1:
            from ..errors import InputError

            raise InputError("--workers needs --ray (or --ray-address)")
        return nullcontext(None)
    from ..distributed import RayEngine

    return RayEngine(address=ray_address, workers=workers)
