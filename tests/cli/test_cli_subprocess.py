"""The real `nlu` process: a light start-up for --help, and the exit codes a shell sees."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = (
    "torch",
    "transformers",
    "sentence_transformers",
    "onnxruntime",
    "onnx",
    "openvino",
    "nncf",
    "fastapi",
    "uvicorn",
    "gradio",
)


def nlu_command() -> list[str]:
    script = Path(sys.executable).with_name("nlu")
    return [str(script)] if script.is_file() else [sys.executable, "-c", "from nlu_toolkit.cli.app import main; main()"]


def run(args: list[str], env: dict[str, str] | None = None, **kwargs) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [*nlu_command(), *args], cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=300, **kwargs
    )


def test_help_imports_no_heavy_module():
    code = textwrap.dedent(
        f"""
        import sys
        from nlu_toolkit.cli.app import app
        commands = ([], ["classify"], ["ner"], ["qa"], ["embed"], ["cluster"], ["bench"], ["serve"], ["app"],
                    ["index", "build"], ["models"], ["models", "list"], ["models", "pull"])
        for args in commands:
            try:
                app([*args, "--help"], prog_name="nlu")
            except SystemExit as e:
                assert e.code in (0, None), (args, e.code)
        app(["--version"], prog_name="nlu", standalone_mode=False)
        heavy = [m for m in {HEAVY!r} if m in sys.modules]
        assert not heavy, heavy
        print("LIGHT")
        """
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().endswith("LIGHT")


def test_import_time_of_nlu_help_has_no_torch():
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "from nlu_toolkit.cli.app import main; main()", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert "nlu_toolkit.cli.app" in imported
    assert not {m for m in imported if m.split(".")[0] in HEAVY}


def test_console_script_help_and_version():
    result = run(["--help"])
    assert result.returncode == 0, result.stderr
    assert "classify" in result.stdout
    assert run(["--version"]).stdout.startswith("nlu_toolkit ")


def test_usage_error_exit_code():
    result = run(["classify", "--format", "xml", "good"])
    assert result.returncode == 2
    assert result.stderr.startswith("nlu: error: ") and len(result.stderr.splitlines()) == 1
    assert result.stdout == ""


def test_missing_model_exit_code(tmp_path):
    result = run(["ner", "Ada Lovelace lived in London"], env={"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path)})
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("nlu: error: model 'dslim/bert-base-NER'")
    assert "nlu models pull ner" in lines[0] and "Traceback" not in result.stderr


def test_success_through_a_pipe(cls_model):
    result = run(["classify", "--model", cls_model, "-"], input="good film\nbad film\n")
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 2
    assert result.stderr == ""  # no load bars or warnings without --verbose


def test_debug_env_shows_a_traceback(cls_model, tmp_path):
    result = run(["classify", "--model", cls_model, "--input", str(tmp_path / "missing.txt")], env={"NLU_DEBUG": "1"})
    assert result.returncode != 0
    assert "Traceback" in result.stderr and "InputError" in result.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX pipes")
def test_closed_pipe_exits_quietly(cls_model, tmp_path):
    path = tmp_path / "many.txt"
    # One window of results (~230 kB) overflows the pipe buffer after `head` has gone.
    path.write_text("good film\n" * 1100, encoding="utf-8")
    cmd = " ".join(
        [*(f"'{c}'" for c in nlu_command()), "classify", "--model", f"'{cls_model}'", "-b", "256", "-i", f"'{path}'"]
    )
    result = subprocess.run(
        f"set -o pipefail; {cmd} | head -n 1",
        shell=True,
        executable="/bin/bash",
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 1
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr
