"""Temporary staging folders that a killed process cannot leave behind for good.

``staging_folder(prefix)`` makes ``<tmp>/<prefix><pid>-<random>`` and, first, removes the
folders with that prefix whose process is gone (a run killed with SIGKILL, or a crashed
machine, never ran its clean-up). A folder whose name carries no pid is left alone.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive, and not ours to clean
        return True
    return True


def sweep_stale(prefix: str, folder: str | None = None) -> list[Path]:
    """Remove ``prefix<pid>-*`` folders in ``folder`` (the temp dir) whose process is gone; return them."""
    pattern = re.compile(re.escape(prefix) + r"(\d+)-")
    removed = []
    root = Path(folder or tempfile.gettempdir())
    try:
        entries = list(root.iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = pattern.match(entry.name)
        if match is None or int(match.group(1)) == os.getpid() or _alive(int(match.group(1))):
            continue
        if entry.is_dir() and not entry.is_symlink() and entry.stat().st_uid == os.getuid():
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def staging_folder(prefix: str) -> Path:
    """A new private folder ``<tmp>/<prefix><pid>-<random>``, after sweeping stale ones."""
    sweep_stale(prefix)
    return Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-"))
