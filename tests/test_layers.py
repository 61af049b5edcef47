"""The layers of docs/architecture.md hold: import-linter's contract in pyproject.toml, checked with the suite,
and no source file grows past the hard limit."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 500
#: Files allowed over the limit, each capped at its size when it was allowed: they may only shrink.
STILL_OVER: dict[str, int] = {}


def test_import_linter_layers_contract_is_kept():
    exe = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    if not Path(exe).exists():
        pytest.skip("import-linter is not installed (pip install -e '.[test]')")
    result = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr


def test_an_upward_import_breaks_the_contract(tmp_path):
    """The contract is not vacuous: a core module importing the CLI is reported."""
    exe = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    if not Path(exe).exists():
        pytest.skip("import-linter is not installed")
    shutil.copytree(ROOT / "nlu_toolkit", tmp_path / "nlu_toolkit", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "nlu_toolkit" / "core" / "upward.py").write_text("def f():\n    from nlu_toolkit.cli import app\n")
    result = subprocess.run([exe, "--no-cache"], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode != 0 and "nlu_toolkit.core.upward" in result.stdout


def test_no_source_file_is_over_the_limit():
    sizes = {p: len(p.read_text(encoding="utf-8").splitlines()) for p in (ROOT / "nlu_toolkit").rglob("*.py")}
    over = {name: n for p, n in sizes.items() if n > STILL_OVER.get(name := str(p.relative_to(ROOT)), MAX_LINES)}
    assert not over, over
