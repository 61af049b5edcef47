"""``nlu ner``: named entities with character offsets, on texts of any length."""

from __future__ import annotations

from typing import Annotated

from nlu_toolkit.cli import options as o
from nlu_toolkit.cli.bundles import InputOptions, OutputOptions, input_options, output_options, run_options
from nlu_toolkit.cli.distributed import DistributedOptions, distributed_options, run_distributed
from nlu_toolkit.cli.render import short
from nlu_toolkit.engine.options import RunOptions

task_opt = o.panel("Entities")


Aggregation = o.choices("Aggregation", "none", "simple", "first", "average", "max")


@output_options()
@input_options()
@run_options()
@distributed_options()
def ner_cli(
    texts: o.TextsArg = None,
    input_file: o.InputOpt = None,
    model: o.ModelOpt = None,
    aggregation: Annotated[
        Aggregation,
        task_opt(
            "--aggregation",
            "-a",
            help="How subword tokens become entities: none (raw tags per token), "
            "simple, or word-level first/average/max.",
        ),
    ] = Aggregation.first,
    long: o.LongOpt = "chunk",
    stride: o.StrideOpt = None,
    *,
    out: OutputOptions,
    source: InputOptions,
    run: RunOptions,
    dist: DistributedOptions,
) -> None:
    """Find named entities (people, places, organisations, ...) with exact character offsets.

    Examples:
      nlu ner "Ada Lovelace was born in London."
      nlu ner --input news.jsonl --model ./my-ner --format jsonl -o entities.jsonl
      nlu ner --engine ray --workers 2 --input news/ -o entities/
    """
    if dist.engine == "ray":  # files to a Parquet folder on Ray Data (cli/distributed.py)
        options = {"aggregation": aggregation.value, "long": long, "stride": stride}
        run_distributed("ner", dist, texts=texts, input_file=input_file, model=model, out=out, source=source,
                        run=run, task_options=options)  # fmt: skip
        return
    dist.check_local()
    out.start(input_file)
    from nlu_toolkit.tasks.ner import EntityRecognizer

    with out.progress(input_file is not None, "tagging") as progress:
        records = source.read(texts, input_file, progress=progress)
        # Inputs are checked (file exists, format, columns) before the slow model load.
        recognizer = EntityRecognizer(model, aggregation=aggregation.value, long=long, stride=stride, run=run)
        out.note_model(recognizer)
        out.emit(
            (r.to_dict() for r in recognizer.predict(records)),
            [
                ("id", lambda r: str(r["id"])),
                ("text", lambda r: short(r["text"], 40)),
                (
                    "entities",
                    lambda r: "; ".join(
                        f"{e['word']} [{e['label']} {e['score']:.2f}] {e['start']}-{e['end']}" for e in r["entities"]
                    ),
                ),
                ("truncated", lambda r: "yes" if r["truncated"] else ""),
            ],
            title=f"model: {recognizer.model_info.describe()}",
            passthrough=(),
        )
