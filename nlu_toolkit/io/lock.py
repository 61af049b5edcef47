"""An exclusive lock for an artefact updated in place (an index, a fine-tune output under ``--resume``).

``artefact_lock(path, timeout=...)`` takes an exclusive lock on ``.<name>.lock``
beside the artefact folder (not inside it: a save swaps the whole folder). On POSIX
it is an ``flock`` on that file, which the holder unlinks before releasing (a waiter
that then locks the unlinked file notices and retries), so nothing is left behind;
elsewhere it is a `filelock.FileLock`. Only writers lock;
readers need no write access, and see the old or the new artefact because saves
are a rename swap. Within one thread the lock is re-entrant (a command that locks
for load-add-save can call a ``save`` that locks again). A lock still held after
``timeout`` seconds raises `ArtefactBusy` with a hint.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from nlu_toolkit.errors import ArtefactBusy
from nlu_toolkit.io.guard import output_error

#: Seconds a writer waits for another writer of the same artefact before giving up.
DEFAULT_LOCK_TIMEOUT = 60.0

_local = threading.local()  # per thread: another thread of this process waits like another process


def _held() -> dict[Path, int]:
    if not hasattr(_local, "held"):
        _local.held = {}
    return _local.held


def lock_path(path: str | os.PathLike[str]) -> Path:
    """Where the lock of artefact ``path`` lives: ``.<name>.lock`` in its parent folder."""
    real = Path(os.path.realpath(os.path.abspath(os.fspath(path))))
    return real.parent / f".{real.name}.lock"


@contextlib.contextmanager
def artefact_lock(
    path: str | os.PathLike[str], *, timeout: float = DEFAULT_LOCK_TIMEOUT, what: str = "index"
) -> Iterator[Path]:
    """Hold the exclusive lock of artefact ``path`` for the block; yields the lock file's path."""
    where = lock_path(path)
    held = _held()
    if where in held:
        held[where] += 1
        try:
            yield where
        finally:
            held[where] -= 1
        return
    try:
        release = _acquire(where, max(0.0, timeout))
    except TimeoutError:
        raise ArtefactBusy(
            f"{path}: another process is writing this {what} (its lock {where} was held for {timeout:g} s)",
            "wait for the other run to finish and try again, or pass a longer {=lock_timeout}",
        ) from None
    except OSError as e:
        raise output_error(e, where, doing=f"lock the {what}") from e
    held[where] = 1
    try:
        yield where
    finally:
        del held[where]
        release()


def _acquire(where: Path, timeout: float) -> Callable[[], None]:
    """Lock ``where``; return the function that releases it. Raises TimeoutError after ``timeout`` s."""
    try:
        import fcntl
    except ImportError:  # Windows: filelock's lock (it deletes its file on release)
        from filelock import FileLock, Timeout

        lock = FileLock(where, timeout=timeout, thread_local=False)
        try:
            lock.acquire()
        except Timeout:
            raise TimeoutError from None
        return lock.release

    deadline = time.monotonic() + timeout
    while True:
        fd = os.open(where, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            if time.monotonic() >= deadline:
                raise TimeoutError from None
            time.sleep(0.05)
            continue
        except BaseException:
            os.close(fd)
            raise
        try:
            ours = os.path.samestat(os.stat(where), os.fstat(fd))
        except FileNotFoundError:
            ours = False
        if ours:
            break
        os.close(fd)  # the previous holder removed this file as it let go: lock the new one

    def release() -> None:
        with contextlib.suppress(OSError):
            os.unlink(where)  # still holding the lock, so no one can be relying on this file
        os.close(fd)

    return release
