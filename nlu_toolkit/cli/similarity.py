"""``nlu similarity`` and ``nlu dedupe``: cosine scores of pairs, and near-duplicate mining."""

from __future__ import annotations

from typing import Annotated

import typer

from nlu_toolkit.cli import options as o
from nlu_toolkit.cli.bundles import InputOptions, OutputOptions, input_options, output_options, run_options
from nlu_toolkit.cli.render import num, short
from nlu_toolkit.engine.options import RunOptions
from nlu_toolkit.errors import UsageError


@output_options("fmt", "output", "verbose", "manifest")
@run_options("device", "batch_size")
def similarity_cli(
    a: Annotated[str | None, typer.Argument(help="First text.", show_default=False)] = None,
    b: Annotated[str | None, typer.Argument(help="Second text.", show_default=False)] = None,
    pairs: Annotated[
        str | None, o.input_opt("--pairs", help="Score every row of FILE (csv/tsv/jsonl/parquet with columns a, b).")
    ] = None,
    a_column: Annotated[str, o.input_opt("--a-column")] = "a",
    b_column: Annotated[str, o.input_opt("--b-column")] = "b",
    encoding: o.EncodingOpt = "utf-8",
    model: o.ModelOpt = None,
    long: o.LongOpt = "truncate",
    stride: o.StrideOpt = None,
    *,
    out: OutputOptions,
    run: RunOptions,
) -> None:
    """Cosine similarity of two texts, or of every pair in a file.

    Examples:
      nlu similarity "A man is playing guitar." "Someone plays an instrument."
      nlu similarity --pairs pairs.csv --format csv -o scored.csv
    """
    out.start(pairs)
    from nlu_toolkit.io.readers import iter_records
    from nlu_toolkit.tasks.embed import similarity

    if pairs is not None:
        if a is not None or b is not None:
            raise UsageError("give two texts or --pairs FILE, not both", "drop one of them")
        rows = list(iter_records(pairs, fields={"a": a_column, "b": b_column}, encoding=encoding))
        left, right = [r["a"] for r in rows], [r["b"] for r in rows]
    elif a is None or b is None:
        raise UsageError("similarity needs two texts", 'e.g. nlu similarity "text one" "text two", or --pairs FILE')
    else:
        left, right = [a], [b]
    scored = similarity(left, right, model, long=long, stride=stride, run=run)
    out.emit(
        scored,
        [
            ("a", lambda r: short(r["a"], 40)),
            ("b", lambda r: short(r["b"], 40)),
            ("score", lambda r: num(r["score"])),
        ],
    )


@output_options("fmt", "output", "verbose", "manifest")
@input_options()
@run_options("device", "batch_size")
def dedupe_cli(
    texts: o.TextsArg = None,
    input_file: o.InputOpt = None,
    threshold: Annotated[
        float,
        typer.Option(
            "--threshold", min=0.0, max=1.0, help="Cosine similarity at or above which two texts are near-duplicates."
        ),
    ] = 0.9,
    top_k: Annotated[int, typer.Option("--top-k", min=1, help="Candidates kept per text while mining.")] = 100,
    model: o.ModelOpt = None,
    long: o.LongOpt = "truncate",
    stride: o.StrideOpt = None,
    *,
    out: OutputOptions,
    source: InputOptions,
    run: RunOptions,
) -> None:
    """Find near-duplicate pairs (paraphrase mining): {"score", "a_id", "b_id", "a", "b"}, best first.

    Example: nlu dedupe --input data/corpus.jsonl --threshold 0.85
    """
    out.start(input_file)
    from nlu_toolkit.tasks.cluster import dedupe

    records = source.read(texts, input_file)
    found = dedupe(records, model, threshold=threshold, top_k=top_k, long=long, stride=stride, run=run)
    written = out.emit(
        found,
        [
            ("score", lambda r: num(r["score"])),
            ("a_id", lambda r: str(r["a_id"])),
            ("b_id", lambda r: str(r["b_id"])),
            ("a", lambda r: short(r["a"], 40)),
            ("b", lambda r: short(r["b"], 40)),
        ],
    )
    if not written:  # an empty table or file alone reads like a failure
        typer.echo(f"nlu dedupe: no pairs at or above --threshold {threshold:g}; lower it to see more", err=True)
