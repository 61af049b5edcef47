"""Checks for optional dependencies that live behind pip extras."""

from __future__ import annotations

import importlib
from types import ModuleType

from nlu_toolkit.errors import MissingExtra


def require(module: str, *, extra: str, package: str | None = None) -> ModuleType:
    """Import ``module`` or raise `MissingExtra` with the exact install command."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingExtra(
            f"this feature needs the optional package {package or module!r}",
            f"install it with: pip install 'nlu-toolkit[{extra}]'",
        ) from e
