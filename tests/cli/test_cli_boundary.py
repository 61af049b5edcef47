"""The CLI boundary: command-line arguments that are not valid UTF-8, and SIGTERM.

Invalid UTF-8 in an argument (a text, a label, a query) used to exit 1 with
``unexpected TypeError`` from the tokenizer; it is refused before any command runs.
SIGTERM used to leave ``.out.jsonl.*.tmp`` behind; it now unwinds like SIGINT.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_checks import check_error

ROOT = Path(__file__).resolve().parents[2]


def _nlu_bytes(*args: bytes) -> list[bytes]:
    """The real `nlu` process with raw byte arguments, as a shell passes them."""
    return [os.fsencode(sys.executable), b"-m", b"nlu_toolkit", *args]


def _run_bytes(*args: bytes) -> subprocess.CompletedProcess:
    return subprocess.run(_nlu_bytes(*args), cwd=ROOT, capture_output=True, timeout=120)


# -- invalid UTF-8 in arguments ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        ([b"classify", b"\xff\xfe", b"--labels", b"a,b"], b"argument 2 is not valid UTF-8"),
        ([b"classify", b"hello", b"--labels", b"a\xff,b"], b"argument 4 (after --labels) is not valid UTF-8"),
        ([b"classify", b"hello", b"--labels=a,\xe9"], b"argument 3 (in --labels) is not valid UTF-8"),
        ([b"index", b"search", b"idx", b"-Q", b"caf\xe9"], b"argument 5 (after -Q) is not valid UTF-8"),
        ([b"qa", b"--question", b"\xed\xa0\x80?", b"--context", b"c"], b"argument 3 (after --question)"),
    ],
)
def test_invalid_utf8_argument_exits_2_naming_it_not_unexpected_typeerror(argv, named):
    result = _run_bytes(*argv)
    stderr = result.stderr.decode("utf-8")  # the message itself is valid UTF-8
    assert result.returncode == 2, stderr
    assert stderr.count("\n") == 1 and stderr.startswith("nlu: error: "), stderr
    assert named.decode() in stderr
    assert "unexpected" not in stderr and "Traceback" not in stderr
    assert result.stdout == b""


def test_invalid_utf8_argument_names_the_byte(nlu):
    # In-process, argv holds what Python's surrogateescape made of the bytes.
    line = check_error(nlu("classify", "ok", "--labels", "pos,n\udce9g"), 2, contains="argument 4 (after --labels)")
    assert "byte 0xe9 at position 6" in line


@pytest.mark.parametrize(
    "args",
    [
        ["classify", "\udcff\udcfe", "--labels", "a,b"],
        ["similarity", "a", "b\udc80"],
        ["ner", "--model", "m", "text \ud800"],  # a lone surrogate that no byte produced
    ],
)
def test_invalid_utf8_argument_is_refused_before_the_command_runs(nlu, args):
    result = nlu(*args)
    check_error(result, 2, contains="is not valid UTF-8")


def test_valid_non_ascii_arguments_pass_the_check():
    from nlu_toolkit.cli.boundary import check_argv

    check_argv(["classify", "café ünïcode 😀", "--labels", "positif,négatif"])  # no error


# -- SIGTERM -----------------------------------------------------------------------------------------------------


def _wait_for(predicate, proc: subprocess.Popen, seconds: float = 240.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert proc.poll() is None, proc.communicate()[1].decode(errors="replace")
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.parametrize("existing", [None, "keep me\n"])
def test_sigterm_during_classify_output_leaves_no_temp_file_and_exits_143(cls_model, tmp_path, existing):
    big = tmp_path / "big.txt"
    big.write_text("".join(f"line {i}: the movie was long but good\n" for i in range(30_000)))
    out = tmp_path / "out.jsonl"
    if existing is not None:
        out.write_text(existing)
    proc = subprocess.Popen(
        _nlu_bytes(b"classify", b"--input", bytes(big), b"-m", os.fsencode(cls_model), b"-o", bytes(out)),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for(lambda: any(tmp_path.glob(".out.jsonl.*.tmp")), proc)  # the writer has started
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = stderr.decode("utf-8", errors="replace")
    assert proc.returncode == 128 + signal.SIGTERM, text
    assert text.strip().splitlines()[-1] == "nlu: terminated (SIGTERM); partial outputs were removed", text
    assert "Traceback" not in text and "unexpected" not in text
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["big.txt", *(["out.jsonl"] if existing else [])])
    if existing is not None:
        assert out.read_text() == existing  # the old output is untouched


def test_importing_the_library_or_the_cli_installs_no_sigterm_handler():
    code = "import signal, nlu_toolkit, nlu_toolkit.cli.app; print(signal.getsignal(signal.SIGTERM) is signal.SIG_DFL)"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "True", result.stderr


def test_sigterm_handler_is_installed_while_the_cli_runs_and_restored(monkeypatch):
    from nlu_toolkit.cli import app as app_module

    before = signal.getsignal(signal.SIGTERM)
    seen = {}

    def fake_app() -> None:
        seen["handler"] = signal.getsignal(signal.SIGTERM)

    monkeypatch.setattr(app_module, "app", fake_app)
    app_module.main()
    assert seen["handler"] not in (before, signal.SIG_DFL, signal.SIG_IGN, None)  # the CLI's own, while it runs
    assert signal.getsignal(signal.SIGTERM) == before  # given back afterwards


def test_terminated_unwinds_cleanup_and_exits_143_quietly(monkeypatch, capsys):
    from nlu_toolkit.cli import app as app_module

    before = signal.getsignal(signal.SIGTERM)
    cleaned = []

    def fake_app() -> None:
        try:
            signal.raise_signal(signal.SIGTERM)
        finally:
            cleaned.append(True)

    monkeypatch.setattr(app_module, "app", fake_app)
    with pytest.raises(SystemExit) as exit_info:
        app_module.main()
    assert exit_info.value.code == 143 and cleaned == [True]
    assert capsys.readouterr().err == "nlu: terminated (SIGTERM); partial outputs were removed\n"
    assert signal.getsignal(signal.SIGTERM) == before
