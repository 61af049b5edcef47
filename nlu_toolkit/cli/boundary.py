"""What the CLI checks and installs where the process meets the outside: argv and SIGTERM.

* `check_argv`: Python decodes the command line with ``surrogateescape``, so a byte
  that is not UTF-8 arrives as a lone surrogate (``b"\\xff"`` -> ``"\\udcff"``) that no
  tokenizer, writer or JSON encoder accepts. Such an argument is refused before any
  command runs, naming its position (and the option it is the value of).
* `sigterm_unwinds`: SIGTERM raises `Terminated`, which unwinds like
  KeyboardInterrupt does for SIGINT, so atomic writers remove their temp files and
  temp folders are deleted before the process exits with status 143 (128 + 15).
  It is installed by the console entry point only, never on library import, and
  restored afterwards; `nlu serve` installs its own handlers (uvicorn's graceful
  shutdown) while it serves.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from nlu_toolkit.errors import InputError

#: Exit status of a process ended by SIGTERM (128 + 15), as a shell reports it.
SIGTERM_EXIT = 128 + signal.SIGTERM


class Terminated(BaseException):
    """Raised in the main thread when the process receives SIGTERM.

    A BaseException (like KeyboardInterrupt), so ``except Exception`` blocks let it
    through and only ``finally`` blocks and context managers (cleanup) run on its way out.
    """


def check_argv(args: Sequence[str]) -> None:
    """Raise `InputError` for the first argument that is not valid UTF-8 (holds a lone surrogate).

    Arguments are numbered from 1 after the program name, as ``$1``, ``$2`` in a shell.
    """
    for i, arg in enumerate(args):
        if arg.isascii():
            continue
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError as e:
            bad = arg[e.start]
            # surrogateescape maps an undecodable byte 0xNN to U+DCNN.
            what = f"byte 0x{ord(bad) - 0xDC00:02x}" if 0xDC80 <= ord(bad) <= 0xDCFF else f"U+{ord(bad):04X}"
            raise InputError(
                f"argument {i + 1}{_option_of(args, i)} is not valid UTF-8 ({what} at position {e.start + 1})",
                "pass text as UTF-8, or put it in a file and read it with --input and --encoding",
            ) from None


def _option_of(args: Sequence[str], i: int) -> str:
    """`` (in --labels)`` or `` (after --labels)`` to place argument ``i``, else ``""``."""
    arg = args[i]
    if arg.startswith("--") and "=" in arg:
        return f" (in {arg.split('=', 1)[0]})"
    if i > 0 and args[i - 1].startswith("-") and args[i - 1] not in ("-", "--") and args[i - 1].isascii():
        return f" (after {args[i - 1]})"
    return ""


@contextlib.contextmanager
def sigterm_unwinds() -> Iterator[None]:
    """While active, SIGTERM raises `Terminated` in the main thread; the old handler comes back after."""
    if threading.current_thread() is not threading.main_thread():  # signal.signal works only there
        yield
        return

    def _raise(signum: int, frame: Any) -> None:
        # Once is enough: a second SIGTERM during cleanup must not interrupt the cleanup.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
