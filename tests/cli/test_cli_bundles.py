"""The CLI's option bundles (one value per group of shared options) and how it names parameters in errors."""

from __future__ import annotations

import pytest
import typer
from cli_checks import check_error
from typer.testing import CliRunner

from nlu_toolkit.cli.app import _flag_namer, app
from nlu_toolkit.cli.bundles import InputOptions, input_options, run_options
from nlu_toolkit.engine.options import RunOptions


def test_cli_names_the_flag_of_the_command_that_ran(nlu):
    # --labels is parsed by the library (parse_labels): its error comes back in the CLI's words.
    result = nlu("classify", "text", "--labels", "a,a")
    check_error(result, 2, contains="--labels repeats a label")
    # An option whose flag is not its parameter's name: input_file is --input.
    import typer

    click_group = typer.main.get_command(app)
    ctx = click_group.make_context("nlu", ["classify", "x"])
    ctx.invoked_subcommand = "classify"
    name = _flag_namer(click_group, ctx)
    assert name("input_file") == "--input" and name("backend") == "--backend" and name("batch_size") == "--batch-size"
    assert name("not_an_option") == "--not-an-option"


def test_bundles_pass_one_value_and_keep_flags():
    seen = {}

    @input_options("encoding", "max_chars", max_chars=10)
    @run_options("device", "batch_size", batch_size=8)
    def command(name: str = "x", *, source: InputOptions, run: RunOptions) -> None:
        seen.update(name=name, source=source, run=run)

    tiny = typer.Typer()
    tiny.command()(command)
    tiny.command("other")(lambda: None)
    result = CliRunner().invoke(tiny, ["command", "--name", "y", "--batch-size", "3", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert seen["name"] == "y"
    assert seen["run"] == RunOptions(device="cpu", batch_size=3)
    assert seen["source"] == InputOptions(max_chars=10)
    helptext = CliRunner().invoke(tiny, ["command", "--help"]).output
    assert "--max-chars" in helptext and "--encoding" in helptext and "--backend" not in helptext
    with pytest.raises(TypeError, match="unknown or unused"):
        run_options("device", batch_size=3)
