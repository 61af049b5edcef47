"""Join a Ray cluster, or start a local one for the run.

``address=None`` starts a local Ray for the run (as many CPUs as the machine, or the workers asked
for if more) and shuts it down after; ``"auto"`` or ``"ray://HOST:PORT"`` (or ``HOST:PORT``) joins
a running cluster and leaves it running. A Ray session the caller already started is used as it is.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

from nlu_toolkit.errors import UsageError
from nlu_toolkit.extras import require


def ray_module() -> ModuleType:
    """``ray`` with Ray Data, or `MissingExtra` with ``pip install 'nlu-toolkit[ray]'``."""
    ray = require("ray", extra="ray", package="ray[data]")
    require("ray.data", extra="ray", package="ray[data]")
    return ray


def check_address(address: str | None) -> None:
    """Refuse an ``address`` that is neither ``auto``, ``ray://HOST:PORT`` nor ``HOST:PORT``."""
    if address is None or address == "auto":
        return
    rest = address[len("ray://") :] if address.startswith("ray://") else address
    host, _, port = rest.rpartition(":")
    if not host or not port.isdigit() or "/" in rest:
        raise UsageError(
            f"{{=address}} {address!r} is not a Ray cluster address",
            "use auto (the cluster this machine belongs to) or ray://HOST:PORT; leave it out for a local Ray",
        )


def local_cpus(workers: int | None) -> int:
    """Logical CPUs for a local Ray: the machine's, or one per worker if that is more."""
    return max(os.cpu_count() or 1, workers or 1)


@contextmanager
def ray_session(
    address: str | None = None,
    *,
    workers: int | None = None,
    num_gpus: int | None = None,
    quiet: bool = True,
    progress_bars: bool = True,
) -> Iterator[ModuleType]:
    """A connected Ray for the duration of the block (see the module docs); yields the ``ray`` module.

    ``quiet`` keeps the workers' logs and Ray's own INFO lines off the driver's stderr;
    ``progress_bars`` switches Ray Data's progress bars (on stderr).
    """
    check_address(address)
    ray = ray_module()
    from ray.data import DataContext

    context = DataContext.get_current()
    context.enable_progress_bars = progress_bars
    context.enable_operator_progress_bars = progress_bars
    if quiet:
        _quiet_ray_loggers()
    if ray.is_initialized():  # the caller's own session: use it, leave it
        yield ray
        return
    settings: dict[str, Any] = {
        "log_to_driver": not quiet,
        "logging_level": logging.ERROR if quiet else logging.INFO,
        "configure_logging": True,
    }
    try:
        with _stderr_muted(quiet):
            if address is None:
                ray.init(num_cpus=local_cpus(workers), num_gpus=num_gpus, include_dashboard=False, **settings)
            else:
                ray.init(address=address, **settings)
    except (ConnectionError, RuntimeError, ValueError) as e:
        if address is not None:
            raise UsageError(
                f"cannot join the Ray cluster at {{=address}} {address!r}: {str(e).splitlines()[0][:200]}",
                "start it first (ray start --head), or leave {=address} out to run a local Ray",
            ) from e
        raise
    try:
        yield ray
    finally:
        ray.shutdown()


@contextmanager
def _stderr_muted(quiet: bool) -> Iterator[None]:
    """File descriptor 2 to /dev/null while Ray's C++ core starts (it logs its log level there)."""
    if not quiet:
        yield
        return
    import sys

    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _quiet_ray_loggers() -> None:
    """Ray Data logs its plan and stats on the driver, and a failed task with its traceback: the error
    reaches the user as the one line of the `NluError` it carries."""
    for name in ("ray", "ray.data", "ray._private", "ray.util"):
        logging.getLogger(name).setLevel(logging.CRITICAL)  # its errors reach the user as ours
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    # The C++ core's own log lines (an advisory about actor restarts at each pool start) go to stderr.
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
