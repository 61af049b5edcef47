"""``nlu finetune``: fine-tune a model for classification, multi-label, NER, QA, sentence embeddings, seq2seq
or few-shot classification."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Annotated, Any

import typer

from nlu_toolkit.cli import options as o
from nlu_toolkit.cli.bundles import OutputOptions, output_options, run_options
from nlu_toolkit.engine.options import RunOptions

if TYPE_CHECKING:
    from nlu_toolkit.train.progress import TrainProgress

data_opt = o.panel("Data")
training_opt = o.panel("Training")


Task = o.choices("Task", "classification", "multilabel", "ner", "qa", "embedding", "seq2seq", "fewshot")
Head = o.choices("Head", "logreg", "torch")
fewshot_opt = o.panel("Few-shot and heads")


Precision = o.choices("Precision", "auto", "fp32", "bf16", "fp16")


TaskOpt = Annotated[Task, typer.Option("--task", "-t", help="What to train (or score) the model for.")]
TextColumn = Annotated[
    str,
    data_opt("--text-column", help="Column holding the text (falls back to sentence/review/...; seq2seq: the source)."),
]
PairColumn = Annotated[
    str | None, data_opt("--text-pair-column", help="Second text column (sentence pairs; embeddings: sentence2).")
]
LabelColumn = Annotated[
    str, data_opt("--label-column", help="Column holding the label(s) or score (seq2seq: the target).")
]


# --output is the command's own (the model folder), not the bundle's results file.
@output_options("fmt", "quiet", "verbose")
@run_options("device", "trust_remote_code")
def finetune_cli(
    task: TaskOpt,
    train: Annotated[
        str,
        data_opt(
            "--train",
            help="Training data: csv/tsv/jsonl/json/parquet; CoNLL for ner; SQuAD json for qa; STS-B or pairs for "
            "embedding; source/target pairs for seq2seq.",
        ),
    ],
    output_dir: Annotated[
        str, typer.Option("--output", "-o", help="Folder for the model, metrics.json, curve and model card.")
    ],
    eval_file: Annotated[str | None, data_opt("--eval", help="Evaluation data, scored each epoch.")] = None,
    eval_split: Annotated[
        float | None,
        data_opt(
            "--eval-split",
            min=0.0,
            max=1.0,
            help="Hold out this fraction of --train for evaluation when there is no --eval file.",
        ),
    ] = None,
    text_column: TextColumn = "text",
    text_pair_column: PairColumn = None,
    label_column: LabelColumn = "label",
    sample_per_class: Annotated[
        int | None,
        data_opt(
            "--sample-per-class",
            min=1,
            help="Train on N rows of each class drawn from --train with --seed (few-shot learning curves).",
        ),
    ] = None,
    model: Annotated[
        str | None,
        o.model_opt(
            "--model",
            "-m",
            help="Base model: hub id or local folder (default: the embedded all-MiniLM-L6-v2, offline; "
            "seq2seq needs a seq2seq model, e.g. t5-small or a local folder).",
        ),
    ] = None,
    epochs: Annotated[
        float | None, training_opt("--epochs", min=0.0, help="Passes over the data (default 3; 1 for fewshot).")
    ] = None,
    lr: Annotated[
        float | None, training_opt("--lr", help="Peak learning rate (default 5e-5; 1e-4 for ner, 2e-5 for embeddings).")
    ] = None,
    batch_size: Annotated[
        int | None,
        training_opt(
            "--batch-size",
            "-b",
            min=1,
            help="Examples per step, per device or process (default 16; 32 for embeddings).",
        ),
    ] = None,
    max_length: Annotated[
        int | None,
        training_opt(
            "--max-length", min=8, help="Token limit (default 256; 384 for qa; 512 source tokens for seq2seq)."
        ),
    ] = None,
    seed: Annotated[int, training_opt("--seed", help="Seed for the new head, shuffling and splits.")] = 42,
    patience: Annotated[
        int | None,
        training_opt("--patience", min=1, help="Early stopping: evaluations without improvement before stopping."),
    ] = None,
    metric: Annotated[
        str | None,
        training_opt(
            "--metric",
            help="Metric for early stopping and the best model (default: accuracy, micro_f1, f1, f1, spearman, "
            "rougeL; use bleu for translation).",
        ),
    ] = None,
    max_steps: Annotated[
        int | None, training_opt("--max-steps", min=1, help="Stop after this many steps (smoke runs).")
    ] = None,
    warmup: Annotated[
        float, training_opt("--warmup", min=0.0, max=0.99, help="Warm-up, as a fraction of the steps.")
    ] = 0.1,
    gradient_accumulation: Annotated[
        int, training_opt("--gradient-accumulation", min=1, help="Steps to accumulate before each update.")
    ] = 1,
    resume: Annotated[bool, training_opt("--resume", help="Continue from the last checkpoint in OUTPUT.")] = False,
    overwrite: Annotated[bool, training_opt("--overwrite", help="Replace a model already in OUTPUT.")] = False,
    keep_checkpoints: Annotated[
        bool, training_opt("--keep-checkpoints", help="Keep OUTPUT/checkpoints after a successful run.")
    ] = False,
    lora: Annotated[
        bool,
        training_opt("--lora", help="Train LoRA adapters (pip install 'nlu-toolkit[peft]'); saves the merged model."),
    ] = False,
    loss: Annotated[
        str | None,
        training_opt(
            "--loss",
            help="Embeddings: cosine (scored pairs, default), cosent, angle; mnrl (anchor/positive pairs, default).",
        ),
    ] = None,
    lora_rank: Annotated[int, training_opt("--lora-rank", min=1, help="LoRA rank r.")] = 8,
    max_target_length: Annotated[
        int,
        training_opt(
            "--max-target-length",
            min=1,
            help="Seq2seq: target token limit, and the generation limit saved with the model.",
        ),
    ] = 128,
    source_prefix: Annotated[
        str | None,
        data_opt(
            "--source-prefix",
            help='Seq2seq: text put before every source, e.g. "summarize: " for T5 (saved in the config).',
        ),
    ] = None,
    precision: Annotated[
        Precision, o.model_opt("--precision", help="auto: bf16/fp16 mixed precision on a CUDA GPU, fp32 elsewhere.")
    ] = Precision.auto,
    multi_label: Annotated[
        bool, fewshot_opt("--multi-label", help="fewshot: several labels per row (as for --task multilabel).")
    ] = False,
    head: Annotated[
        Head | None,
        fewshot_opt(
            "--head",
            help="fewshot, or a static --model: logreg (logistic regression, default) or torch (a trained linear layer).",
        ),
    ] = None,
    num_iterations: Annotated[
        int | None,
        fewshot_opt("--num-iterations", min=1, help="fewshot: N positive and N negative pairs per example."),
    ] = None,
    pairs_per_example: Annotated[
        int | None,
        fewshot_opt(
            "--pairs-per-example",
            min=1,
            help="fewshot: pairs per example in all (default: every pair, the rarer kind oversampled, as SetFit).",
        ),
    ] = None,
    *,
    out: OutputOptions,
    run: RunOptions,
) -> None:
    """Fine-tune a model; the saved folder loads straight into classify/ner/qa/embed/summarize/translate --model DIR.

    fewshot: SetFit's recipe (contrastive pairs, then a head) for a few labelled texts per class; a static
    --model (nlu distill) with --task classification fits a head on its vectors: the fastest classifier.

    Examples:

      nlu finetune --task classification --train train.csv --eval dev.csv --output my-model

      nlu finetune --task ner --train eng.train --eval eng.testa --output ner-model --epochs 1

      nlu finetune --task fewshot --train labelled.csv --sample-per-class 8 --seed 0 --eval dev.csv --output fs-model

      nlu finetune --task classification --model static-model --train train.csv --output fast-classifier

      nlu finetune --task seq2seq --model ./my-t5 --source-prefix "summarize: " --train pairs.jsonl --output sum-model

      accelerate launch --multi_gpu --num_processes 4 -m nlu_toolkit finetune --task classification --train train.csv --output m

      torchrun --nproc_per_node 2 -m nlu_toolkit finetune --task classification --train train.csv --output m --device cpu

    Across processes (GPUs, or CPUs over gloo): --batch-size is per process, losses and metrics are averaged.
    """
    import sys

    from nlu_toolkit.cli.render import print_summary
    from nlu_toolkit.train.finetune import finetune

    out.start()
    with training_bar(not out.quiet and sys.stderr.isatty()) as progress:
        result = finetune(
            task.value,
            train,
            output_dir,
            eval=eval_file,
            eval_split=eval_split,
            model=model,
            epochs=epochs,
            lr=lr,
            batch_size=batch_size,
            max_length=max_length,
            seed=seed,
            patience=patience,
            metric=metric,
            max_steps=max_steps,
            warmup=warmup,
            gradient_accumulation=gradient_accumulation,
            resume=resume,
            overwrite=overwrite,
            keep_checkpoints=keep_checkpoints,
            lora=lora,
            lora_rank=lora_rank,
            loss=loss,
            device=run.device,
            precision=precision.value,
            text_column=text_column,
            text_pair_column=text_pair_column,
            label_column=label_column,
            sample_per_class=sample_per_class,
            multi_label=multi_label,
            head=None if head is None else head.value,
            num_iterations=num_iterations,
            pairs_per_example=pairs_per_example,
            max_target_length=max_target_length,
            source_prefix=source_prefix,
            trust_remote_code=run.trust_remote_code,
            progress=progress,
        )
    if not result.files:  # a non-main process under `accelerate launch`: the main one reports
        return
    if result.stopped_early:
        from nlu_toolkit.train.report import early_stopping_note

        note = early_stopping_note(
            result.metric, patience, result.stopped_at_epoch, result.planned_epochs, result.best_epoch
        )
        print(f"nlu: {note}", file=sys.stderr)
    summary = {
        "output_dir": str(result.output_dir),
        "task": result.task,
        "base_model": result.base_model,
        "best_epoch": result.best_epoch,
        "stopped_early": result.stopped_early,
        "stopped_at_epoch": result.stopped_at_epoch,
        **result.metrics,
        "train_seconds": round(result.train_seconds, 1),
        "train_samples_per_second": result.train_samples_per_second,
        "device": result.device,
        "train_precision": result.train_precision,
        "epochs": result.history,
    }
    print_summary(summary, fmt=out.fmt, title="fine-tuned: " + str(result.output_dir), rows=result.history)


@contextlib.contextmanager
def training_bar(enabled: bool) -> Iterator[Callable[[TrainProgress], None] | None]:
    """The training bar on stderr, drawn from the library's `TrainProgress` reports (None when not ``enabled``).

    A rich bar with the steps done, the latest epoch and loss and the time left; a line per evaluation
    above it. It disappears when the run ends, or fails.
    """
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from nlu_toolkit.cli.render import stderr_console

    bar = Progress(
        TextColumn("training"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeRemainingColumn(),
        console=stderr_console(),
        transient=True,
    )
    task: Any = None

    def draw(p: TrainProgress) -> None:
        nonlocal task
        epoch = p.epoch or 0
        if p.phase == "start":
            bar.start()
            task = bar.add_task("train", total=p.total_steps, completed=p.step, info="")
        elif task is None:
            return
        elif p.phase == "step":
            bar.update(task, completed=p.step)
        elif p.phase == "log" and p.loss is not None:
            bar.update(task, info=f"epoch {epoch:.2f} loss {p.loss:.4f}")
        elif p.phase == "evaluate":
            shown = ", ".join(f"{k} {v:.4f}" for k, v in p.metrics.items() if not k.endswith(("runtime", "per_second")))
            bar.console.print(f"epoch {epoch:.2f}: {shown}")
        elif p.phase == "end":
            bar.stop()
            task = None

    try:
        yield draw
    finally:
        if task is not None:  # the run failed before its end: take the bar down
            bar.stop()
