"""``nlu classify``: sentiment/topic classification, multi-label and zero-shot."""

from __future__ import annotations

from typing import Annotated

from nlu_toolkit.cli import options as o
from nlu_toolkit.cli.bundles import InputOptions, OutputOptions, input_options, output_options, run_options
from nlu_toolkit.cli.distributed import DistributedOptions, distributed_options, run_distributed
from nlu_toolkit.cli.render import num, short
from nlu_toolkit.engine.options import RunOptions

task_opt = o.panel("Classification")


@output_options()
@input_options()
@run_options()
@distributed_options()
def classify_cli(
    texts: o.TextsArg = None,
    input_file: o.InputOpt = None,
    model: o.ModelOpt = None,
    labels: Annotated[
        str | None,
        task_opt(
            "--labels",
            "-l",
            help="Zero-shot: candidate labels, comma-separated. Without --model, uses the embedded MiniLM (offline). "
            "One label is scored on its own, as with --multi-label.",
        ),
    ] = None,
    hypothesis_template: Annotated[
        str, task_opt("--hypothesis-template", help="Zero-shot template; {} is replaced by each label.")
    ] = "This text is {}.",
    top_k: Annotated[
        int | None, task_opt("--top-k", "-k", min=1, help="Labels to keep per text (default: all).")
    ] = None,
    multi_label: Annotated[
        bool | None,
        task_opt(
            "--multi-label/--single-label",
            help="Independent per-label scores (sigmoid); default: the model's problem_type.",
        ),
    ] = None,
    threshold: Annotated[
        float | None,
        task_opt(
            "--threshold",
            min=0.0,
            max=1.0,
            help="Multi-label: keep labels scoring at least this (default 0.5; 0.1 cosine for embedding zero-shot).",
        ),
    ] = None,
    long: o.LongOpt = "truncate",
    stride: o.StrideOpt = None,
    *,
    out: OutputOptions,
    source: InputOptions,
    run: RunOptions,
    dist: DistributedOptions,
) -> None:
    """Classify texts: sentiment by default, your labels with --labels (zero-shot), or any fine-tuned model.

    Examples:
      nlu classify "I loved this film" "Dull and far too long"
      nlu classify --input data/reviews.txt --labels positive,negative
      cat texts.txt | nlu classify - --model ./my-model --format json
      nlu classify --engine ray --workers 2 --input data/ -o labelled/
    """
    options = {"labels": labels, "hypothesis_template": hypothesis_template, "top_k": top_k,
               "multi_label": multi_label, "threshold": threshold, "long": long, "stride": stride}  # fmt: skip
    if dist.engine == "ray":  # files to a Parquet folder on Ray Data (cli/distributed.py)
        run_distributed("classify", dist, texts=texts, input_file=input_file, model=model, out=out, source=source,
                        run=run, task_options=options)  # fmt: skip
        return
    dist.check_local()
    out.start(input_file)
    from nlu_toolkit.tasks.classify import Classifier

    with out.progress(input_file is not None, "classifying") as progress:
        records = source.read(texts, input_file, progress=progress)
        # Inputs are checked (file exists, format, columns) before the slow model load.
        classifier = Classifier(
            model,
            labels=labels,
            hypothesis_template=hypothesis_template,
            top_k=top_k,
            multi_label=multi_label,
            threshold=threshold,
            long=long,
            stride=stride,
            run=run,
        )
        out.note_model(classifier)
        out.emit(
            (r.to_dict() for r in classifier.predict(records)),
            [
                ("id", lambda r: str(r["id"])),
                ("text", lambda r: short(r["text"])),
                ("label", lambda r: str(r["label"] or "")),
                ("score", lambda r: num(r["score"])),
                ("labels", lambda r: short(", ".join(f"{x['label']} {x['score']:.2f}" for x in r["labels"][:5]), 30)),
                ("truncated", lambda r: "yes" if r["truncated"] else ""),
            ],
            title=f"model: {classifier.model_info.describe()}",
            passthrough=(),
        )
