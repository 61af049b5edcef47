"""Typed errors raised by the library.

Library code raises these and never prints or exits; ``cli/app.py`` is the one
place that turns them into a one-line message and an exit code. Each error
carries a ``hint`` naming the next step for the user.

Messages name the library's parameters, never the CLI's flags: a parameter is written
``{=batch_size}`` in the message or hint. ``str(error)``, ``error.message`` and ``error.hint``
show it as ``batch_size``; the CLI renders the same error with its own flag (``--batch-size``)
and the HTTP server with the request field (`NluError.render`).
"""

from __future__ import annotations

import re
from collections.abc import Callable

#: A parameter named in a message: ``{=name}``.
_PARAM = re.compile(r"\{=([A-Za-z_][A-Za-z0-9_]*)\}")


def _plain(name: str) -> str:
    return name


def name_params(text: str, name: Callable[[str], str] = _plain) -> str:
    """``text`` with every ``{=param}`` replaced by ``name(param)`` (the parameter's own name by default)."""
    return _PARAM.sub(lambda m: name(m.group(1)), text)


def params_in(text: str | None) -> list[str]:
    """The parameters ``text`` names (``{=param}``), in order."""
    return _PARAM.findall(text or "")


class NluError(Exception):
    """Base class of every error the toolkit raises on purpose.

    ``message`` and ``hint`` may name parameters as ``{=param}`` (see the module docstring).
    """

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.template, self.hint_template = message, hint

    @property
    def message(self) -> str:
        return name_params(self.template)

    @property
    def hint(self) -> str | None:
        return None if self.hint_template is None else name_params(self.hint_template)

    @property
    def params(self) -> list[str]:
        """The parameters this error names, in order, each once."""
        return list(dict.fromkeys(params_in(self.template) + params_in(self.hint_template)))

    def rename_param(self, old: str, new: str) -> NluError:
        """This error, naming ``{=new}`` where it named ``{=old}``: for a value passed on under another name.

        A rerank model is loaded by the code that loads ``model``; the user gave it as ``rerank``.
        """
        self.template = self.template.replace(f"{{={old}}}", f"{{={new}}}")
        if self.hint_template is not None:
            self.hint_template = self.hint_template.replace(f"{{={old}}}", f"{{={new}}}")
        return self

    def render(self, name: Callable[[str], str] = _plain) -> str:
        """``message (hint)`` with each parameter shown as ``name(param)``: a flag in the CLI, a field in HTTP."""
        message = name_params(self.template, name)
        return f"{message} ({name_params(self.hint_template, name)})" if self.hint_template else message

    def __str__(self) -> str:
        return self.render()


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


def check_choice(param: str, value: object, choices: tuple[object, ...] | list[object]) -> None:
    """Refuse ``value`` unless it is one of ``choices``: a `UsageError` naming ``param`` and the choices."""
    if value not in choices:
        shown = ", ".join(str(c) for c in choices if c is not None)
        raise UsageError(f"unknown {{={param}}} {value!r}", f"use one of: {shown}")
