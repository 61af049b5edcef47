"""The CLI boundary: command-line arguments that are not valid UTF-8, and SIGTERM.

Invalid UTF-8 in an argument (a text, a label, a query) used to exit 1 with
``unexpected TypeError`` from the tokenizer; it is refused before any command runs.
SIGTERM used to leave ``.out.jsonl.*.tmp`` behind; it now unwinds like SIGINT.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.cli_checks import check_error

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
