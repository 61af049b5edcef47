"""``nlu generate``: continue a prompt with a causal language model, streaming to the terminal."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from nlu_toolkit.cli import options as o
from nlu_toolkit.cli.bundles import InputOptions, OutputOptions, input_options, output_options, run_options
from nlu_toolkit.cli.render import short
from nlu_toolkit.engine.options import RunOptions

task_opt = o.panel("Generation")


@output_options("fmt", "output", "verbose", "manifest")
@input_options("text_column")
@run_options("device", "trust_remote_code")
def generate_cli(
    prompts: Annotated[
        list[str] | None,
        typer.Argument(help="Prompts to continue; '-' reads one prompt per line from stdin.", show_default=False),
    ] = None,
    input_file: o.InputOpt = None,
    model: o.ModelOpt = None,
    max_new_tokens: Annotated[int, task_opt("--max-new-tokens", "-n", min=1, help="Tokens to add.")] = 50,
    do_sample: Annotated[bool, task_opt("--do-sample", help="Sample instead of greedy decoding.")] = False,
    temperature: Annotated[float, task_opt("--temperature", min=0.0, help="Sampling temperature.")] = 1.0,
    top_p: Annotated[float, task_opt("--top-p", min=0.0, max=1.0, help="Nucleus sampling mass.")] = 1.0,
    num_return_sequences: Annotated[
        int, task_opt("--num-return-sequences", min=1, help="Continuations per prompt.")
    ] = 1,
    seed: Annotated[int | None, task_opt("--seed", help="Seed the sampler: the same seed gives the same text.")] = None,
    *,
    out: OutputOptions,
    source: InputOptions,
    run: RunOptions,
) -> None:
    """Continue prompts with a causal LM (default distilgpt2); tokens stream to a terminal as they come.

    Examples:
      nlu generate "Once upon a time" --max-new-tokens 40
      nlu generate "The river bank" --do-sample --top-p 0.9 --seed 7 --num-return-sequences 3 --format json
    """
    out.start(input_file)
    from nlu_toolkit.io.writers import format_for_output
    from nlu_toolkit.tasks.generate import Generator

    records = list(source.read(prompts, input_file))
    generator = Generator(
        model,
        max_new_tokens=max_new_tokens,
        do_sample=do_sample,
        temperature=temperature,
        top_p=top_p,
        num_return_sequences=num_return_sequences,
        seed=seed,
        run=run,
    )
    out.note_model(generator)
    chosen = format_for_output(out.output, out.fmt, isatty=sys.stdout.isatty())
    if chosen == "table" and out.output is None and num_return_sequences == 1:
        # On a terminal, print the prompt and then each piece as the model produces it.
        for index, record in enumerate(records):
            sys.stdout.write(record["text"])
            sys.stdout.flush()
            for piece in generator.stream(record["text"], index):
                sys.stdout.write(piece)
                sys.stdout.flush()
            sys.stdout.write("\n")
        return
    out.emit(
        (r.to_dict("generated") for r in generator.predict(records)),
        [
            ("id", lambda r: str(r["id"])),
            ("prompt", lambda r: short(r["text"], 30)),
            ("generated", lambda r: "\n---\n".join(r.get("generateds") or [r["generated"]])),
        ],
        title=f"model: {generator.model_info.describe()}",
        passthrough=("text", "chunks"),
    )
