"""Assertions and helpers shared by the CLI tests: the error contract, JSONL files, folder listings."""

from __future__ import annotations

import json
from pathlib import Path


def check_ok(result) -> None:
    assert result.exit_code == 0, f"exit {result.exit_code}\nstderr: {result.stderr}\n{result.exception!r}"


def check_error(result, code: int = 2, *, contains: str | None = None) -> str:
    """The error contract: the exit code, one ``nlu: error:`` line on stderr with a remedy, no traceback."""
    assert result.exit_code == code, f"exit {result.exit_code}, stderr: {result.stderr!r}, {result.exception!r}"
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("nlu: error: "), line
    # The remedy comes in parentheses after the message.
    assert line.rstrip().endswith(")") and "(" in line, line
    assert "Traceback" not in result.stderr + result.stdout
    if contains is not None:
        assert contains in line, line
    return line


def jsonl(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def listing(folder: Path) -> list[str]:
    """Every entry of ``folder``, hidden ones included (atomic writes use hidden temp files)."""
    return sorted(p.name for p in folder.iterdir())


def write_jsonl(path: Path, rows: list[dict]) -> str:
    """``rows`` written to ``path`` as JSONL; returns the path as text (as the commands take it)."""
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def docs_of(index: Path) -> list[dict]:
    """The documents of an index folder, as stored in its ``docs.jsonl``."""
    return [json.loads(line) for line in (index / "docs.jsonl").open(encoding="utf-8")]
