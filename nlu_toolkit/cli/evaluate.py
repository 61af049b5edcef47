"""``nlu evaluate``: score a model on labelled data (accuracy/F1/MCC, seqeval, SQuAD, STS, retrieval)."""

from __future__ import annotations

from typing import Annotated

import typer

from nlu_toolkit.cli import options as o
from nlu_toolkit.cli.bundles import OutputOptions, output_options, run_options
from nlu_toolkit.cli.finetune import LabelColumn, PairColumn, TaskOpt, TextColumn, data_opt
from nlu_toolkit.engine.options import RunOptions


@output_options("fmt", "output", "verbose", "manifest")
@run_options("batch_size", "max_length", "device", "trust_remote_code")
def evaluate_cli(
    task: TaskOpt,
    model: Annotated[
        str, o.model_opt("--model", "-m", help="Model folder (e.g. from nlu finetune), hub id or preset.")
    ],
    data: Annotated[str, data_opt("--data", "-d", help="Labelled data, in the formats nlu finetune reads.")],
    text_column: TextColumn = "text",
    text_pair_column: PairColumn = None,
    label_column: LabelColumn = "label",
    threshold: Annotated[
        float, typer.Option("--threshold", min=0.0, max=1.0, help="Multi-label: score needed to predict a label.")
    ] = 0.5,
    errors: Annotated[str | None, o.output_opt("--errors", help="Write the wrong predictions to FILE (jsonl).")] = None,
    confusion_png: Annotated[
        str | None, o.output_opt("--confusion-png", help="Classification: draw the confusion matrix to FILE.png.")
    ] = None,
    *,
    out: OutputOptions,
    run: RunOptions,
) -> None:
    """Score a model on labelled data; overall figures first, then per class/type.

    The JSON figures (stdout or --output) end with the run manifest: versions, settings, the model's
    and the data's checksums.

    Examples:

      nlu evaluate --task classification --model my-model --data dev.csv --confusion-png cm.png

      nlu evaluate --task ner --model ner-model --data eng.testa --format json --errors wrong.jsonl
    """
    from nlu_toolkit.cli.render import print_summary
    from nlu_toolkit.io.writers import write_records
    from nlu_toolkit.train.evaluate import evaluate

    # Every output is checked before the model loads: not an input, a writable place, a .png plot.
    out.start(
        data, outputs={"--errors": errors, "--confusion-png": confusion_png}, suffixes={"--confusion-png": (".png",)}
    )
    result = evaluate(
        task.value,
        model,
        data,
        threshold=threshold,
        text_column=text_column,
        text_pair_column=text_pair_column,
        label_column=label_column,
        confusion_png=confusion_png,
        run=run,
    )
    if errors is not None:
        write_records(result.errors, "jsonl", errors)
    rows = _detail_rows(result.details)
    result.manifest["outputs"] = list(out.seen["outputs"])  # --output (the figures), --errors, --confusion-png
    if result.model_info is not None:  # for --manifest FILE
        out.seen["model"] = result.model_info.to_dict()
    print_summary(
        result.to_dict(),
        fmt=out.fmt,
        title=f"{task.value}: {result.model}",
        rows=rows,
        output=out.output,
    )


def _detail_rows(details: dict) -> list[dict]:
    """Per-class (classification) or per-type (NER) rows for the table view."""
    table = details.get("per_class") or details.get("per_type") or {}
    rows = [{"name": name, **values} for name, values in table.items()]
    for group in ("has_answer", "no_answer"):
        if isinstance(details.get(group), dict):
            rows.append({"name": group, **details[group]})
    return rows
