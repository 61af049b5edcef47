"""``nlu inspect``: how a transformer sees a text (tokens, attention, contextual vectors)."""

from __future__ import annotations

import sys
from typing import Annotated, Any

from nlu_toolkit.cli import options as o
from nlu_toolkit.cli.bundles import InputOptions, OutputOptions, output_options, run_options
from nlu_toolkit.cli.render import print_summary, short
from nlu_toolkit.engine.options import RunOptions
from nlu_toolkit.io.guard import PLOT_SUFFIXES

task_opt = o.panel("Inspect")
#: Vector dimensions shown in the --vectors table.
SHOWN_DIMS = 4


@output_options("fmt", "output", "verbose", "manifest")
@run_options("device", "max_length", "trust_remote_code")
def inspect_cli(
    texts: o.TextsArg = None,
    attention: Annotated[
        str | None,
        task_opt(
            "--attention",
            help="Draw the attention heatmap of one text to FILE (.png, .svg or .pdf), tokens on both axes.",
        ),
    ] = None,
    layer: Annotated[
        int | None,
        task_opt(
            "--layer",
            help="Layer for --attention, --vectors and --similarity, from 0; negative counts from the end "
            "(default: the last).",
        ),
    ] = None,
    head: Annotated[
        int | None, task_opt("--head", help="Attention head for --attention (default: the mean of all heads).")
    ] = None,
    vectors: Annotated[
        bool,
        task_opt(
            "--vectors",
            help=f"Show each token's contextual vector (first {SHOWN_DIMS} dimensions and norm; "
            "json/jsonl: the whole vector).",
        ),
    ] = False,
    vectors_out: Annotated[
        str | None, task_opt("--vectors-out", help="Save one text's token vectors as FILE.npy, shape (tokens, hidden).")
    ] = None,
    similarity: Annotated[
        str | None,
        task_opt(
            "--similarity",
            help="Given two texts: cosine of WORD's contextual vectors in each (sub-tokens mean-pooled), "
            "and of the two texts' mean vectors.",
            metavar="WORD",
        ),
    ] = None,
    model: Annotated[
        str | None,
        o.model_opt(
            "--model",
            "-m",
            help="Hub id, local folder (transformers or sentence-transformers) or 'embedded' "
            "(default: the embedded all-MiniLM-L6-v2, offline).",
        ),
    ] = None,
    *,
    out: OutputOptions,
    run: RunOptions,
) -> None:
    """Show how a transformer sees a text: its tokens and words, attention maps, contextual vectors.

    Examples:
      nlu inspect "The bank of the river"
      nlu inspect "The bank of the river" --attention attn.png --layer 0 --head 3
      nlu inspect "The bank of the river" --vectors --vectors-out bank.npy
      nlu inspect "I sat on the bank of the river" "I put money in the bank" --similarity bank
    """
    out.start(outputs={"--attention": attention, "--vectors-out": vectors_out}, suffixes={"--attention": PLOT_SUFFIXES})
    from nlu_toolkit.io.writers import format_for_output, write_records
    from nlu_toolkit.tasks.inspect import inspect_text

    records = InputOptions().read(texts, None)  # arguments or stdin only, with the default checks
    chosen = format_for_output(out.output, out.fmt, isatty=sys.stdout.isatty())
    results = inspect_text(
        records,
        model,
        attention=attention,
        layer=layer,
        head=head,
        vectors=vectors,
        vectors_out=vectors_out,
        similarity=similarity,
        run=run,
    )
    if similarity is not None:
        (result,) = results
        rows = [
            {
                "text": key,
                "tokens": " ".join(result[f"{key}_tokens"]),
                "chars": "{}-{}".format(*result[f"{key}_span"]),
            }
            for key in ("a", "b")
        ]
        print_summary(result, fmt=chosen, title=f"{result['word']!r} in two contexts", rows=rows, output=out.output)
    elif chosen == "table":
        _print_tables(results, vectors=vectors)
    else:
        write_records(results, chosen, out.output)


def _print_tables(records: list[dict[str, Any]], *, vectors: bool) -> None:
    """One table of tokens per text, then notes: the model, truncation, the files written."""
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console()
    for record in records:
        notes = [f"model: {record['model']}"]
        if record.get("truncated"):
            notes.append(f"truncated at {len(record['tokens'])} tokens (the model's limit)")
        if "attention" in record:
            a = record["attention"]
            which = f"head {a['head']}" if a["head"] is not None else f"mean of {a['heads']} heads"
            notes.append(f"attention heatmap: {a['path']} (layer {a['layer']}, {which})")
        if "vectors_out" in record:
            rows, dim = record["vectors_shape"]
            notes.append(f"token vectors: {record['vectors_out']} ({rows} x {dim}, layer {record['layer']})")
        elif vectors:
            notes.append(f"vectors of layer {record['layer']}")
        columns = ["#", "token", "id", "word", "chars"]
        shown = 0
        if vectors and record["tokens"]:
            shown = min(SHOWN_DIMS, len(record["tokens"][0]["vector"]))
            columns += [f"d{i}" for i in range(shown)] + ["norm"]
        table = Table(
            *columns, title=Text(short(record["text"], 80)), box=box.SIMPLE_HEAD, pad_edge=False, highlight=False
        )
        for token in record["tokens"]:
            cells = [
                Text(str(token["index"])),
                Text(token["token"]),
                Text(str(token["id"])),
                Text("(special)", style="dim") if token["special"] else Text(str(token["word"] or "")),
                Text("" if token["start"] is None else f"{token['start']}-{token['end']}"),
            ]
            if shown:
                cells += [Text(f"{x:+.2f}") for x in token["vector"][:shown]] + [Text(f"{token['norm']:.2f}")]
            table.add_row(*cells)
        console.print(table)
        for note in notes:
            console.print(Text(note, style="dim"))
