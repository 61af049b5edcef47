"""``nlu ner``: named entities with character offsets, on texts of any length."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer

from nlu_toolkit.cli import options as o
from nlu_toolkit.cli.bundles import InputOptions, input_options, run_options
from nlu_toolkit.cli.render import configure_runtime, emit, note_model, progress_bar, short, warn_runtime
from nlu_toolkit.engine.options import RunOptions
from nlu_toolkit.io.guard import check_outputs

TASK = "Entities"


class Aggregation(str, Enum):
    none = "none"
    simple = "simple"
    first = "first"
    average = "average"
    max = "max"


@input_options()
@run_options()
def ner_cli(
    texts: o.TextsArg = None,
    input_file: o.InputOpt = None,
    model: o.ModelOpt = None,
    aggregation: Annotated[
        Aggregation,
        typer.Option(
            "--aggregation",
            "-a",
            help="How subword tokens become entities: none (raw tags per token), "
            "simple, or word-level first/average/max.",
            rich_help_panel=TASK,
        ),
    ] = Aggregation.first,
    stride: Annotated[
        int | None,
        typer.Option(
            "--stride",
            min=0,
            help="Tokens shared by overlapping windows of long texts (default: a quarter of the window).",
            rich_help_panel=TASK,
            show_default=False,
        ),
    ] = None,
    fmt: o.FormatOpt = None,
    output: o.OutputOpt = None,
    verbose: o.VerboseOpt = False,
    quiet: o.QuietOpt = False,
    *,
    source: InputOptions,
    run: RunOptions,
) -> None:
    """Find named entities (people, places, organisations, ...) with exact character offsets.

    Examples:
      nlu ner "Ada Lovelace was born in London."
      nlu ner --input news.jsonl --model ./my-ner --format jsonl -o entities.jsonl
    """
    configure_runtime(verbose)
    check_outputs({"--output": output}, [input_file])
    from nlu_toolkit.tasks.ner import EntityRecognizer

    with progress_bar(input_file is not None and not quiet, "tagging") as progress:
        records = source.read(texts, input_file, progress=progress)
        # Inputs are checked (file exists, format, columns) before the slow model load.
        recognizer = EntityRecognizer(model, aggregation=aggregation.value, stride=stride, run=run)
        note_model(recognizer.model_info, verbose)
        warn_runtime(recognizer)
        emit(
            (r.to_dict() for r in recognizer.predict(records)),
            fmt=fmt and fmt.value,
            output=output,
            columns=[
                ("id", lambda r: str(r["id"])),
                ("text", lambda r: short(r["text"], 40)),
                (
                    "entities",
                    lambda r: "; ".join(
                        f"{e['word']} [{e['label']} {e['score']:.2f}] {e['start']}-{e['end']}" for e in r["entities"]
                    ),
                ),
            ],
            title=f"model: {recognizer.model_info.describe()}",
        )
