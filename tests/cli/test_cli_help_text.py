"""What a person reads in --help and in usage errors: install hints intact, suggestions that help."""

from __future__ import annotations

import re

import pytest
import typer.main
from cli_checks import check_error, check_ok

from nlu_toolkit.cli.app import app

WIDE = {"COLUMNS": "220", "TERM": "dumb"}


def _commands(command, path=()):
    """Every command of the app as (path, click command), groups included."""
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, (*path, name))


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (("classify",), "pip install 'nlu-toolkit[onnx]' or 'nlu-toolkit[openvino]'"),
        (("finetune",), "pip install 'nlu-toolkit[peft]'"),
    ],
)
def test_install_hints_keep_their_extras(nlu, args, hint):
    """Rich markup once ate "[onnx]" and "[peft]", leaving "pip install 'nlu-toolkit'"."""
    result = nlu(*args, "--help", env=WIDE)
    check_ok(result)
    assert hint in " ".join(result.stdout.split())
    assert "'nlu-toolkit')" not in result.stdout and "'nlu-toolkit' / ''" not in result.stdout


def test_every_bracketed_help_word_is_shown(nlu):
    """Any "[word]" an option's help holds is shown as written, in every command."""
    seen = 0
    for path, command in _commands(typer.main.get_command(app)):
        wanted = set()
        for param in getattr(command, "params", []):
            # The help is stored escaped for rich ("\[onnx]"): the reader must see "[onnx]".
            wanted.update(re.findall(r"\[[a-z0-9_-]+\]", (getattr(param, "help", None) or "").replace("\\[", "[")))
        if not wanted:
            continue
        result = nlu(*path, "--help", env=WIDE)
        check_ok(result)
        for word in wanted:
            assert word in result.stdout, (path, word)
            seen += 1
    assert seen >= 2  # the backend and LoRA hints at least


@pytest.mark.parametrize(
    ("args", "unknown"),
    [
        (("cluster", "--language", "en", "a text"), "--language"),
        (("index", "add", "idx", "corpus.jsonl", "--model", "m"), "--model"),
    ],
)
def test_an_unknown_option_suggests_only_near_spellings(nlu, args, unknown):
    """click named any option sharing letters: --long -> "--encoding, --plot", --model -> "--help"."""
    line = check_error(nlu(*args), 2, contains=f"No such option: {unknown}")
    assert "Possible options" not in line
    assert "--help')" in line  # still points at the command's help


def test_a_misspelt_option_is_still_suggested(nlu):
    line = check_error(nlu("classify", "--batchsize", "4", "a text"), 2)
    assert "(Possible options: --batch-size)" in line
