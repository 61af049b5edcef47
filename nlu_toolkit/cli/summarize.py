"""``nlu summarize`` and ``nlu translate``: seq2seq generation over texts or files."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from nlu_toolkit.cli import options as o
from nlu_toolkit.cli.bundles import InputOptions, OutputOptions, input_options, output_options, run_options
from nlu_toolkit.cli.render import short
from nlu_toolkit.engine.options import RunOptions

if TYPE_CHECKING:
    from nlu_toolkit.tasks.generate import Summarizer, Translator

task_opt = o.panel("Generation")

MinLengthOpt = Annotated[
    int | None, task_opt("--min-length", min=0, help="Shortest output, in tokens (default: the model's).")
]
MaxLengthOutOpt = Annotated[
    int | None, task_opt("--max-length", min=1, help="Longest output, in tokens (default: the model's).")
]
NumBeamsOpt = Annotated[int | None, task_opt("--num-beams", min=1, help="Beam width (default: the model's).")]
MaxInputOpt = Annotated[
    int | None,
    o.model_opt(
        "--max-input-length",
        min=8,
        help="Lower the encoder's input limit; longer texts are split into chunks that fit.",
    ),
]


def _run(make, key: str, texts, input_file, source: InputOptions, out: OutputOptions, label: str) -> None:
    """Check the outputs, read the records, then build the model with ``make()`` and write its results."""
    out.start(input_file)
    notes: list[str] = []

    def noted(results: Any) -> Any:
        """The records, noting each long document's chunks and summary rounds (on stderr after the results)."""
        for r in results:
            if r.chunks > 1 and r.rounds is not None:
                notes.append(
                    f"record {r.id!r}: summarized {r.chunks} chunks in {r.rounds} round{'s' * (r.rounds != 1)}"
                )
            yield r.to_dict(key)

    with out.progress(input_file is not None, label) as progress:
        records = source.read(texts, input_file, progress=progress)
        # Inputs are checked (file exists, format, columns) before the slow model load.
        runner = make()
        out.note_model(runner)
        out.emit(
            noted(runner.predict(records)),
            [
                ("id", lambda r: str(r["id"])),
                ("text", lambda r: short(r["text"], 40)),
                (key, lambda r: r[key]),
                ("chunks", lambda r: str(r["chunks"])),
            ],
            title=f"model: {runner.model_info.describe()}",
            passthrough=("chunks", "rounds"),
        )
    if not out.quiet:
        for note in notes:
            typer.echo(f"nlu summarize: {note}", err=True)


# --max-length is the output's length here, so the run bundle's --max-length (input limit) is not
# offered: the input limit is --max-input-length, the command's own option, passed as max_input_length.
@output_options()
@input_options(max_chars=1_000_000)
@run_options("device", "batch_size", "trust_remote_code", batch_size=8)
def summarize_cli(
    texts: o.TextsArg = None,
    input_file: o.InputOpt = None,
    model: o.ModelOpt = None,
    min_length: MinLengthOpt = None,
    max_length: MaxLengthOutOpt = None,
    num_beams: NumBeamsOpt = None,
    max_input_length: MaxInputOpt = None,
    *,
    out: OutputOptions,
    source: InputOptions,
    run: RunOptions,
) -> None:
    """Summarize texts; documents longer than the model's input are summarized in chunks, never cut.

    Examples:
      nlu summarize --input data/news.txt --max-length 60
      nlu summarize "Long article text ..." --model ./my-bart --format json
    """

    def make() -> Summarizer:
        from nlu_toolkit.tasks.generate import Summarizer

        return Summarizer(
            model,
            min_length=min_length,
            max_length=max_length,
            num_beams=num_beams,
            max_input_length=max_input_length,
            run=run,
        )

    _run(make, "summary", texts, input_file, source, out, "summarizing")


@output_options()
@input_options(max_chars=1_000_000)
@run_options("device", "batch_size", "trust_remote_code", batch_size=8)
def translate_cli(
    texts: o.TextsArg = None,
    input_file: o.InputOpt = None,
    # Not `source`: that name is the input bundle's. The library's {=source} still renders as --source.
    source_lang: Annotated[str | None, task_opt("--source", "-s", help="Source language code (e.g. en).")] = None,
    target_lang: Annotated[str | None, task_opt("--target", "-t", help="Target language code (e.g. de).")] = None,
    model: Annotated[
        str | None,
        o.model_opt(
            "--model", "-m", help="Any seq2seq translation model (default: Helsinki-NLP/opus-mt-SOURCE-TARGET)."
        ),
    ] = None,
    max_length: MaxLengthOutOpt = None,
    num_beams: NumBeamsOpt = None,
    max_input_length: MaxInputOpt = None,
    *,
    out: OutputOptions,
    source: InputOptions,
    run: RunOptions,
) -> None:
    """Translate texts; long inputs are split at sentence boundaries and translated in batches.

    Examples:
      nlu translate --source en --target de "The weather is nice today."
      nlu translate --input sentences.txt --model ./my-marian -o out.jsonl
    """

    def make() -> Translator:
        from nlu_toolkit.tasks.generate import Translator

        return Translator(
            model,
            source=source_lang,
            target=target_lang,
            max_length=max_length,
            num_beams=num_beams,
            max_input_length=max_input_length,
            run=run,
        )

    _run(make, "translation", texts, input_file, source, out, "translating")
