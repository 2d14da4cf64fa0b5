"""Joining or starting a Ray cluster, with errors a user can act on.

`ray.init()` with no address starts a local cluster on this machine; an
address joins a running one (`ray start --head` elsewhere). An address that
does not answer fails in seconds here, rather than after Ray's own minute of
retries; a Ray that is not installed fails with the command that installs it.
"""

from __future__ import annotations

import socket

from ..errors import EmbedsearchError

RAY_MISSING = ("Ray is not installed: pip install 'embedsearch[distributed]' "
               "(or build without `engine`)")
CONNECT_TIMEOUT = 5.0


class RayUnavailableError(EmbedsearchError):
    """Ray is not installed, or the cluster at the given address cannot be reached."""


def import_ray():
    try:
        import ray
        import ray.data  # noqa: F401  (ray[data], not just ray core)
    except ImportError:
        raise RayUnavailableError(RAY_MISSING) from None
    return ray


def _check_reachable(address: str) -> None:
    """A `host:port` (or `ray://host:port`) address must accept a TCP connection."""
    target = address.removeprefix("ray://")
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise RayUnavailableError(f"Ray address {address!r} is not HOST:PORT "
                                  "(e.g. 10.0.0.5:6379, or ray://10.0.0.5:10001)")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT).close()
    except OSError as error:
        raise RayUnavailableError(
            f"cannot reach a Ray cluster at {address} ({error.strerror or error}): start one "
            "there with `ray start --head`, or leave out the address to run locally") from None


def connect(address: str | None) -> bool:
    """Make sure this process is connected to Ray; True if it started the connection."""
    ray = import_ray()
    if ray.is_initialized():
        return False
    if address and address != "auto":
        _check_reachable(address)
    try:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(include_dashboard=False, log_to_driver=False)
    except (ConnectionError, RuntimeError) as error:
        raise RayUnavailableError(f"cannot start or join Ray"
                                  f"{' at ' + address if address else ''}: {error}") from None
    return True


def quiet_data_context(ray) -> None:
    """Keep source order and silence Ray Data's own progress bars (the driver shows one)."""
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    context.enable_progress_bars = False
    if hasattr(context, "print_on_execution_start"):
        context.print_on_execution_start = False
