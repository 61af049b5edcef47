"""Put a finished folder in place of another atomically, so readers see the old or the new, never a mix.

On Linux the two folders are exchanged in one ``renameat2(RENAME_EXCHANGE)`` call, so
the target path never disappears; elsewhere (or on file systems without it) the old
folder is moved aside and the new one renamed in, a window of microseconds in which
the path is missing but never half-written.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import shutil
import sys
import tempfile
from pathlib import Path

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Swap folders ``a`` and ``b`` atomically; False when the platform cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def replace_folder(new: Path, target: Path) -> None:
    """Move folder ``new`` to ``target``; a folder already at ``target`` is deleted afterwards."""
    if not os.path.lexists(target):
        os.rename(new, target)
        return
    if _exchange(new, target):
        shutil.rmtree(new, ignore_errors=True)  # ``new`` now holds the old folder
        return
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
    try:
        os.rename(target, old / "previous")
        try:
            os.rename(new, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.rename(old / "previous", target)  # put the old one back
            raise
    finally:
        shutil.rmtree(old, ignore_errors=True)
