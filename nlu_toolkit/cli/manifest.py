"""The CLI's half of a run manifest: which command ran, with which options and inputs.

`command_run` reads the running click command (its name and every parameter's value) and returns
the keywords of `nlu_toolkit.io.run_manifest.build_manifest` that the CLI knows; the model and the
outputs come from the command (`OutputOptions.note_model`, `OutputOptions.start`). With ``--manifest``,
a command that reads stdin reads it through `hash_stdin`, so the manifest has the sha256 of its bytes.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from typing import Any

#: Parameters that say where things go or how they are shown, not how results are made.
_NOT_SETTINGS = frozenset({"manifest"})


def _context() -> Any:
    """The running click context (Typer's own copy of click, where it has one), or None."""
    try:
        from typer._click.globals import get_current_context
    except ImportError:  # a Typer that uses click itself
        from click import get_current_context
    return get_current_context(silent=True)


def command_name() -> str:
    """``nlu classify``, ``nlu index build``: the running command, as typed (empty outside a command)."""
    ctx = _context()
    names: list[str] = []
    while ctx is not None:
        names.append(ctx.info_name or "")
        ctx = ctx.parent
    names[-1:] = ["nlu"] if names else []
    return " ".join(reversed([n for n in names if n]))


def command_run(inputs: Sequence[str | None]) -> dict[str, Any]:
    """``{"command", "settings", "seed", "inputs", "model_spec"}`` for the running command.

    ``settings`` are all its parameters (the texts given as arguments included); ``inputs`` the
    files named, and stdin when the texts are ``-``; ``model_spec`` the ``--model`` given (a local
    folder's weights are hashed from it when the command names no loaded model).
    """
    ctx = _context()
    params = dict(ctx.params) if ctx is not None else {}
    files: list[str | None] = [i for i in inputs if i is not None]
    texts = params.get("texts")
    if isinstance(texts, (list, tuple)) and list(texts) == ["-"] and "-" not in files:
        files.append("-")
    return {
        "command": command_name(),
        "settings": {k: v for k, v in params.items() if k not in _NOT_SETTINGS},
        "seed": params.get("seed"),
        "inputs": files,
        "model_spec": params.get("model"),
    }


class _HashingReader(io.RawIOBase):
    """A raw stream over ``source`` (stdin's bytes) that hashes what is read through it."""

    def __init__(self, source: Any) -> None:
        self.source = source
        self.digest = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self.source.isatty()

    def fileno(self) -> int:
        return self.source.fileno()

    def readinto(self, buffer: Any) -> int:
        data = self.source.read1(len(buffer)) if hasattr(self.source, "read1") else self.source.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.digest.update(data)
        self.size += n
        return n

    def record(self) -> dict[str, Any]:
        """The stdin input of a run manifest: the size and sha256 of the bytes read."""
        return {"path": "-", "size": self.size, "sha256": self.digest.hexdigest()}


def reads_stdin(inputs: Sequence[str | None]) -> bool:
    """Whether the running command reads stdin: an input ``-``, or the texts ``-``."""
    return "-" in inputs or "-" in command_run([])["inputs"]


def hash_stdin() -> _HashingReader:
    """Put a hashing reader under ``sys.stdin`` (its bytes, as the readers take them) and return it."""
    import sys

    reader = _HashingReader(sys.stdin.buffer)
    encoding = getattr(sys.stdin, "encoding", None) or "utf-8"
    sys.stdin = io.TextIOWrapper(io.BufferedReader(reader), encoding=encoding)
    return reader
