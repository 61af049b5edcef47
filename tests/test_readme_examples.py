"""README examples run as written on the embedded MiniLM (parsed from README.md at test time).

Rule: a ```python block preceded by the line ``<!-- offline -->`` must run as written, offline, in a
folder holding a copy of ``data/`` (the sample files); unmarked blocks name models or files you supply
(``./my-model``, hub-only defaults) and are not run. Of the ``nlu`` shell examples, the main job (the
first ``nlu embed --search ... --corpus data/corpus.jsonl`` line) is run through ``python -m nlu_toolkit``
and its top hits are checked.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

pytestmark = pytest.mark.slow


def offline_blocks() -> list[str]:
    text = README.read_text(encoding="utf-8")
    return re.findall(r"^<!-- offline -->\n```python\n(.*?)^```", text, re.S | re.M)


def shell_commands() -> list[str]:
    text = README.read_text(encoding="utf-8")
    lines = []
    for block in re.findall(r"^```bash\n(.*?)^```", text, re.S | re.M):
        lines += [line.strip() for line in block.splitlines() if line.strip().startswith("nlu ")]
    return lines


@pytest.fixture
def sample_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(ROOT / "data", tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_readme_has_offline_blocks():
    assert offline_blocks(), "README.md has no <!-- offline --> python block"


@pytest.mark.parametrize("index", range(len(offline_blocks())))
def test_offline_python_block_runs(index: int, sample_folder: Path):
    code = offline_blocks()[index]
    exec(compile(code, f"README.md offline block {index}", "exec"), {"__name__": "__readme__"})


def test_main_job_search_finds_the_right_texts(sample_folder: Path):
    found = [c for c in shell_commands() if c.startswith("nlu embed --search") and "data/corpus.jsonl" in c]
    assert found, "README.md has no `nlu embed --search ... data/corpus.jsonl` example"
    args = shlex.split(found[0], comments=True)[1:]
    done = subprocess.run(
        [sys.executable, "-m", "nlu_toolkit", *args, "--format", "jsonl"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    assert records
    expected = {"password": "password", "parcel": "parcel", "refund": "refund"}
    for record in records:
        top = record["hits"][0]["text"].lower()
        for word, in_text in expected.items():
            if word in record["query"].lower():
                assert in_text in top, (record["query"], top)
