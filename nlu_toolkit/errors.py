"""Typed errors raised by the library.

Library code raises these and never prints or exits; ``cli/app.py`` is the one
place that turns them into a one-line message and an exit code. Each error
carries a ``hint`` naming the next step for the user.
"""

from __future__ import annotations


class NluError(Exception):
    """Base class of every error the toolkit raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class InputError(NluError):
    """Bad input data: a missing file, bad format or encoding, a missing column, empty input."""

    exit_code = 2

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        path: str | None = None,
        line: int | None = None,
    ) -> None:
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(where + message, hint)
        self.path = path
        self.line = line


class UsageError(NluError):
    """Invalid option values or combinations."""

    exit_code = 2


class ModelNotAvailable(NluError):
    """A model cannot be found locally and cannot be downloaded (offline, not found)."""

    exit_code = 2


class ModelMismatch(NluError):
    """An index or artefact was built with a different model than the one requested."""

    exit_code = 2


class ModelCorrupted(NluError):
    """A model's files do not match their recorded checksum."""


class MissingExtra(NluError):
    """An optional dependency is not installed."""

    exit_code = 2


class IndexCorrupted(NluError):
    """A persisted index is unreadable or inconsistent."""


class TrainingDataError(NluError):
    """Training or evaluation data is unusable."""

    exit_code = 2


class OutputError(NluError):
    """An output location that must not or cannot be written.

    It is one of the inputs, an existing folder or file of another kind, read-only,
    or the disk filled up while writing. Nothing was overwritten.
    """

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None, *, path: str | None = None) -> None:
        super().__init__(f"{path}: {message}" if path is not None else message, hint)
        self.path = path


class ArtefactBusy(NluError):
    """Another process holds the lock of an index or output folder that is updated in place."""


class UnsafeModel(ModelNotAvailable):
    """A model folder whose weights are pickle files (``*.bin``, ``*.pt``, ``*.pkl``) only: never loaded."""


class CheckpointCorrupted(NluError):
    """A training checkpoint folder is incomplete or unreadable (``--resume``)."""

    exit_code = 2
