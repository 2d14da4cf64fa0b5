"""`@engine_options`: --ray, --ray-address and --workers, shared by build, add and rebuild.

The command receives an `EngineChoice`; `engine.open()` gives the engine the
write path takes: None (this process) or a `RayEngine`, imported only when
asked for, so that a machine without Ray never imports it.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from typing import Optional

import typer

from .options import option_set


@dataclass(frozen=True)
class EngineChoice:
    """Where to read and encode: this process, or Ray (a local cluster unless `address`)."""

    ray: bool
    address: Optional[str]
    workers: int

    @property
    def distributed(self) -> bool:
        return self.ray or self.address is not None

    def open(self):
        """A context manager giving the engine: None for this process, or a connected RayEngine."""
        if not self.distributed:
            return nullcontext(None)
        from ..distributed import RayEngine

        return RayEngine(address=self.address, workers=self.workers)


def _engine_choice(ray: bool, ray_address: Optional[str], workers: int) -> EngineChoice:
    choice = EngineChoice(ray, ray_address, workers)
    if workers != 1 and not choice.distributed:
        from ..errors import InputError

        raise InputError("--workers needs --ray (or --ray-address)")
    return choice


engine_options = option_set("engine", {
    "ray": (bool, typer.Option(False, "--ray", help="Read and encode on Ray (a local cluster "
                                                    "unless --ray-address); needs "
                                                    "embedsearch\\[distributed].")),
    "ray_address": (Optional[str], typer.Option(
        None, "--ray-address", help="Join the Ray cluster at HOST:PORT (implies --ray).")),
    "workers": (int, typer.Option(1, "--workers", min=1, help="With --ray: how many encoder actors.")),
}, _engine_choice)
