"""CLI fixtures: a CliRunner (stderr is captured apart from stdout) and an output folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nlu_toolkit.cli.app import app


@pytest.fixture
def nlu() -> Callable[..., object]:
    """``nlu(*args, input=None, env=None)`` runs the CLI in-process and returns click's Result."""
    runner = CliRunner()

    def run(*args: str, input: str | bytes | None = None, env: dict[str, str] | None = None):
        return runner.invoke(app, [str(a) for a in args], input=input, env=env)

    return run


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    """An empty folder for --output files; error tests check nothing is left in it."""
    folder = tmp_path / "out"
    folder.mkdir()
    return folder
