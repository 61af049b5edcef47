"""Fine-tuning on HF ``Trainer`` (``SentenceTransformerTrainer`` for embeddings): `finetune`.

A thin composition, SetFit-style, not a rewrite: we load and check the data
(`nlu_toolkit.train.data`), tokenize once without padding, then hand the
Trainer three speed habits it does not apply by default:

- **dynamic padding** (`DataCollatorWithPadding` / `...ForTokenClassification`):
  a batch is padded to its longest text, not to ``max_length``;
- **length grouping** (``train_sampling_strategy="group_by_length"``): batches
  of similar lengths, so there is little padding left to pay for;
- **mixed precision** on a GPU (bf16 where supported, else fp16).

The saved folder loads straight into ``nlu classify|ner|qa|embed --model DIR``:
safetensors weights, the tokenizer, and ``id2label``/``label2id`` in the config.
Seq2seq (``Seq2SeqTrainer``, scored by generating each epoch) saves a folder for
``nlu summarize|translate --model DIR``, with its generation config.
Beside it: ``metrics.json`` (per epoch), ``training_curve.png`` and a model card.

Multi-GPU: run the same command under ``accelerate launch`` (see README); only
the main process writes files.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nlu_toolkit.errors import NluError, TrainingDataError, UsageError
from nlu_toolkit.io.writers import atomic_output
from nlu_toolkit.train.data import TASKS, TaskData, load_task_data
from nlu_toolkit.train.guard import CHECKPOINTS, check_base, check_output, output_run
from nlu_toolkit.train.report import epoch_history, model_card, plot_training_curve, step_losses, write_json

#: The metric early stopping and "best model" use, per task (``--metric`` overrides).
DEFAULT_METRIC = {
    "classification": "accuracy",
    "multilabel": "micro_f1",
    "ner": "f1",
    "qa": "f1",
    "embedding": "spearman",
    # ROUGE-L suits summaries; for translation pass --metric bleu (or chrf).
    "seq2seq": "rougeL",
}
#: Default learning rates and batch sizes, measured (benchmarks/RESULTS.md): one epoch on CoNLL-2003 at
#: batch 16 / lr 1e-4 reaches entity F1 0.884, at batch 32 / lr 5e-5 only 0.823; SST-2 (20k sentences)
#: reaches 0.872 at batch 16 and 0.866 at 32. Embedding losses with in-batch negatives want larger batches.
DEFAULT_LR = {"classification": 5e-5, "multilabel": 5e-5, "ner": 1e-4, "qa": 5e-5, "embedding": 2e-5, "seq2seq": 5e-5}
DEFAULT_BATCH_SIZE = {"classification": 16, "multilabel": 16, "ner": 16, "qa": 16, "embedding": 32, "seq2seq": 16}
#: Default token limits: sentence tasks rarely need more than 256 tokens; SQuAD-style QA uses 384-token windows;
#: seq2seq sources (documents to summarize) get 512 (targets: ``max_target_length``, 128 by default).
DEFAULT_MAX_LENGTH = {"classification": 256, "multilabel": 256, "ner": 256, "qa": 384, "embedding": 256, "seq2seq": 512}
#: What each task reports per epoch, so --metric can be checked before training rather than after the first epoch.
METRICS = {
    "classification": ("accuracy", "macro_f1", "mcc"),
    "multilabel": ("accuracy", "micro_f1", "macro_f1"),
    "ner": ("f1", "precision", "recall", "accuracy"),
    "qa": ("f1", "exact_match"),
    "embedding": ("spearman", "pearson", "mrr@10", "recall@1", "recall@10"),
    "seq2seq": ("rougeL", "rouge1", "rouge2", "bleu", "chrf"),
}
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
#: Embedding losses: for scored pairs (CoSENT, cosine MSE, AnglE) and for (anchor, positive) pairs
#: (MultipleNegativesRankingLoss, in-batch negatives).
SCORED_LOSSES = ("cosine", "cosent", "angle")
PAIR_LOSSES = ("mnrl",)
# Files the run writes into the output folder besides the model's own.
METRICS_FILE, CURVE_FILE, CARD_FILE = "metrics.json", "training_curve.png", "README.md"


@dataclass
class FinetuneResult:
    """What a run produced: where the model is, and how it scored.

    ``metrics`` are the eval figures of the kept (best) epoch, without the
    ``eval_`` prefix; ``history`` has one row per epoch.
    """

    task: str
    output_dir: Path
    base_model: str
    labels: list[str]
    metrics: dict[str, float]
    history: list[dict[str, Any]]
    metric: str | None
    best_epoch: float | None
    train_seconds: float
    train_samples_per_second: float | None
    train_rows: int
    eval_rows: int
    steps: int
    device: str
    precision: str
    files: dict[str, Path] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["output_dir"] = str(self.output_dir)
        data["files"] = {k: str(v) for k, v in self.files.items()}
        return data


def finetune(
    task: str,
    train: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    *,
    eval: str | os.PathLike[str] | None = None,
    eval_split: float | None = None,
    model: str | None = None,
    epochs: float = 3.0,
    lr: float | None = None,
    batch_size: int | None = None,
    max_length: int | None = None,
    seed: int = 42,
    patience: int | None = None,
    metric: str | None = None,
    max_steps: int | None = None,
    warmup: float = 0.1,
    weight_decay: float = 0.01,
    gradient_accumulation: int = 1,
    resume: bool = False,
    overwrite: bool = False,
    keep_checkpoints: bool = False,
    lora: bool = False,
    lora_rank: int = 8,
    loss: str | None = None,
    device: str | None = "auto",
    precision: str = "auto",
    text_column: str = "text",
    text_pair_column: str | None = None,
    label_column: str = "label",
    max_target_length: int = 128,
    source_prefix: str | None = None,
    trust_remote_code: bool = False,
    progress: bool = False,
) -> FinetuneResult:
    """Fine-tune ``model`` (default: the embedded all-MiniLM-L6-v2) for ``task`` and save it to ``output_dir``.

    Args:
        task: ``classification``, ``multilabel``, ``ner``, ``qa``, ``embedding`` or ``seq2seq``
            (source/target text pairs: summaries or translations; needs a seq2seq ``model`` such as
            t5-small, facebook/bart-base or a local folder, since MiniLM cannot generate).
        train, eval: data files (see `nlu_toolkit.train.data`); ``eval_split``
            holds out a fraction of ``train`` instead.
        epochs, lr, batch_size, max_length, seed, warmup (a fraction of the
            steps), weight_decay, gradient_accumulation: the usual knobs; lr,
            batch_size and max_length default per task (`DEFAULT_LR`,
            `DEFAULT_BATCH_SIZE`, `DEFAULT_MAX_LENGTH`).
        patience: stop after this many evaluations without improvement of
            ``metric`` (default per task: accuracy, micro_f1, f1, f1, spearman, rougeL;
            ``metric="bleu"`` suits translation).
            The best epoch's model is the one saved.
        max_steps: stop after this many optimiser steps (smoke runs).
        resume: continue from the last checkpoint in ``output_dir/checkpoints``.
        overwrite: replace a model already in ``output_dir``.
        lora: train LoRA adapters (``peft`` extra) and save the merged model.
        loss: embeddings only: ``cosine`` (cosine-similarity MSE, default for
            scored pairs), ``cosent``, ``angle``, or ``mnrl`` (default for
            anchor/positive pairs).
        device: ``auto`` picks CUDA, then MPS, then the CPU.
        precision: ``auto`` = bf16/fp16 mixed precision on CUDA, fp32 elsewhere.
        max_target_length: seq2seq: target token limit in training, and the generation limit in
            evaluation and in the saved generation config (``max_length`` is the source limit).
        source_prefix: seq2seq: text put before every source, e.g. ``"summarize: "`` for T5; saved
            as ``prefix`` in the model's config and recorded in metrics.json.
        progress: draw a progress bar on stderr.

    Raises:
        TrainingDataError: unusable data (empty, wrong column, bad labels, spans, tags).
        UsageError: bad option values, or an output folder that already holds a model.
        OutputError: an output folder that is an input, a file, or a folder that is not a fine-tune output.
        ModelNotAvailable: the base model cannot be found offline (`UnsafeModel`: it has pickle weights only).
        CheckpointCorrupted: under ``resume``, the last checkpoint is incomplete or unreadable.
        ArtefactBusy: another run is writing ``output_dir``.
    """
    from nlu_toolkit.core.device import resolve_device

    if task not in TASKS:
        raise UsageError(f"unknown task {task!r}", f"use --task {'|'.join(TASKS)}")
    if loss is not None and (task != "embedding" or loss not in (*SCORED_LOSSES, *PAIR_LOSSES)):
        raise UsageError(
            f"--loss {loss} is not an embedding loss", "use --loss with --task embedding: cosent, cosine, angle, mnrl"
        )
    if precision not in PRECISIONS:
        raise UsageError(f"unknown precision {precision!r}", f"use one of: {', '.join(PRECISIONS)}")
    if task == "seq2seq" and model is None:
        raise UsageError(
            "--task seq2seq needs a sequence-to-sequence base model; the default (all-MiniLM-L6-v2) "
            "is an encoder and cannot generate text",
            "pass --model t5-small, --model facebook/bart-base or a local seq2seq folder (T5, BART, Marian); "
            "offline, fetch one first with `nlu models pull ID` on a connected machine and copy its HF cache here",
        )
    if source_prefix is not None and task != "seq2seq":
        raise UsageError("--source-prefix is for --task seq2seq", "drop --source-prefix")
    _check_numbers(epochs=epochs, batch_size=batch_size, max_length=max_length, max_steps=max_steps, patience=patience)
    _check_numbers(max_target_length=max_target_length)
    batch_size = batch_size or DEFAULT_BATCH_SIZE.get(task, 32)
    if lr is not None and not lr > 0:
        raise UsageError(f"--lr must be positive, got {lr}", "use e.g. --lr 5e-5")
    if not 0 <= warmup < 1:
        raise UsageError(f"--warmup must be a fraction in [0, 1), got {warmup}", "use e.g. --warmup 0.1")
    out = Path(output_dir)
    inputs = [p for p in (train, eval) if isinstance(p, str | os.PathLike)]
    check_output(out, inputs=inputs, resume=resume, overwrite=overwrite)
    resolved_device = resolve_device(device)
    mixed = _mixed_precision(precision, resolved_device)
    data = load_task_data(
        task,
        train,
        eval,
        eval_split=eval_split,
        seed=seed,
        text_column=text_column,
        text_pair_column=text_pair_column,
        label_column=label_column,
    )
    if metric is None:
        pairs = task == "embedding" and data.info.get("pair_kind") == "pairs"
        metric = "mrr@10" if pairs else DEFAULT_METRIC[task]
    metric = "eval_loss" if metric in ("loss", "eval_loss") else metric
    if metric not in (*METRICS[task], "eval_loss"):
        raise UsageError(
            f"--metric {metric} is not reported for {task}", f"use one of: {', '.join(METRICS[task])}, loss"
        )
    if patience is not None and data.eval is None:
        raise UsageError("--patience needs evaluation data", "pass --eval FILE or --eval-split 0.1")
    base = _base_model(model, task)
    if task == "seq2seq":
        _check_seq2seq_base(base, trust_remote_code)
    check_base(base, out)  # safetensors only, and not the output folder
    settings = {
        "base_model": base["name"],
        "epochs": epochs,
        "max_steps": max_steps,
        "learning_rate": lr or DEFAULT_LR[task],
        "batch_size": batch_size,
        "gradient_accumulation": gradient_accumulation,
        "max_length": max_length,
        "warmup": warmup,
        "weight_decay": weight_decay,
        "seed": seed,
        "patience": patience,
        "metric": metric,
        "lora": f"r={lora_rank}" if lora else None,
        "device": resolved_device,
        "precision": mixed or "fp32",
    }
    if task == "seq2seq":
        settings["max_target_length"] = max_target_length
        settings["source_prefix"] = source_prefix
    run = _Run(
        task=task,
        data=data,
        base=base,
        out=out,
        settings=settings,
        resume=resume,
        lora=lora,
        lora_rank=lora_rank,
        trust_remote_code=trust_remote_code,
        progress=progress,
        mixed=mixed,
        device=resolved_device,
        max_length=max_length,
        loss=loss,
        max_target_length=max_target_length,
        source_prefix=source_prefix,
    )
    # The output folder is locked for the run; a failed run removes the folder it created (unless it checkpointed).
    with output_run(out, resume=resume, overwrite=overwrite), _quiet_transformers():
        if task == "embedding":
            if lora:
                raise UsageError("--lora is not supported for --task embedding", "drop --lora")
            result = run.train_embedding()
        elif task == "seq2seq":
            result = run.train_seq2seq()
        else:
            result = run.train_transformers()
        if not keep_checkpoints and result.files:
            shutil.rmtree(out / CHECKPOINTS, ignore_errors=True)
    return result


def _check_numbers(**values: float | None) -> None:
    for name, value in values.items():
        if value is not None and (isinstance(value, bool) or not value > 0):
            raise UsageError(f"--{name.replace('_', '-')} must be positive, got {value}", "pass a value above 0")


def _mixed_precision(precision: str, device: str) -> str | None:
    """``bf16``/``fp16`` for the Trainer, or None for fp32. Mixed precision only pays (and works) on CUDA."""
    if precision == "fp32":
        return None
    if precision == "auto":
        if not device.startswith("cuda"):
            return None
        import torch

        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if not device.startswith("cuda"):
        raise UsageError(f"--precision {precision} needs a CUDA GPU (device is {device})", "use --precision auto")
    return precision


def _base_model(model: str | None, task: str = "classification") -> dict[str, str]:
    """Where the base model lives (local folder, embedded MiniLM, or hub id through the cache)."""
    from nlu_toolkit.models.resolver import locate

    # The "sentence-embedding" task's default is the embedded MiniLM, which is the base we want offline.
    # Seq2seq always names its model; "summarization" gives the matching hints when it is not cached.
    info = locate(model, "summarization" if task == "seq2seq" else "sentence-embedding")
    return {"name": info.name, "path": info.path, "source": info.source}


def _check_seq2seq_base(base: dict[str, str], trust_remote_code: bool) -> None:
    """Refuse, before any folder is made, a base that ``AutoModelForSeq2SeqLM`` cannot load (encoders, causal LMs)."""
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES

    from nlu_toolkit.errors import ModelNotAvailable

    try:
        config = AutoConfig.from_pretrained(base["path"], trust_remote_code=trust_remote_code)
    except Exception as e:  # no config.json, unknown model type, bad JSON
        raise ModelNotAvailable(
            f"cannot load base model {base['name']!r}: {e}", "pass --model with a transformers seq2seq model folder"
        ) from e
    remote = "AutoModelForSeq2SeqLM" in (getattr(config, "auto_map", None) or {})
    if config.model_type in MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES or remote:
        return
    archs = ", ".join(getattr(config, "architectures", None) or []) or config.model_type
    raise UsageError(
        f"model {base['name']!r} has no sequence-to-sequence head ({archs}); --task seq2seq trains an "
        "encoder-decoder that generates text",
        "pass --model t5-small, --model facebook/bart-base or a local seq2seq folder (T5, BART, Marian, Pegasus)",
    )


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Silence transformers' warnings (e.g. "newly initialized head", expected when fine-tuning) and the
    library progress bars (weights loading, dataset mapping, shard writing); ours is the training bar."""
    import datasets
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_bars = hf_logging.is_progress_bar_enabled()
    ds_bars = datasets.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if hf_bars:
            hf_logging.enable_progress_bar()
        if ds_bars:
            datasets.enable_progress_bars()


@dataclass
class _Run:
    task: str
    data: TaskData
    base: dict[str, str]
    out: Path
    settings: dict[str, Any]
    resume: bool
    lora: bool
    lora_rank: int
    trust_remote_code: bool
    progress: bool
    mixed: str | None
    device: str
    max_length: int | None
    loss: str | None = None
    max_target_length: int = 128
    source_prefix: str | None = None
    aliases: dict[str, str] = field(default_factory=dict)

    # ---- shared ------------------------------------------------------------------------------------------------

    def training_arguments(self, cls: type, **extra: Any) -> Any:
        s = self.settings
        has_eval = self.data.eval is not None
        metric = s["metric"]
        return cls(
            output_dir=str(self.out / CHECKPOINTS),
            num_train_epochs=s["epochs"],
            max_steps=s["max_steps"] or -1,
            learning_rate=s["learning_rate"],
            per_device_train_batch_size=s["batch_size"],
            per_device_eval_batch_size=max(s["batch_size"], 32),
            gradient_accumulation_steps=s["gradient_accumulation"],
            warmup_steps=s["warmup"],
            weight_decay=s["weight_decay"],
            seed=s["seed"],
            eval_strategy="epoch" if has_eval else "no",
            save_strategy="epoch",
            save_total_limit=2,
            load_best_model_at_end=has_eval,
            metric_for_best_model=metric if has_eval else None,
            greater_is_better=not metric.endswith("loss"),
            logging_strategy="steps",
            logging_steps=self.logging_steps(),
            report_to="none",
            disable_tqdm=True,
            use_cpu=self.device == "cpu",
            bf16=self.mixed == "bf16",
            fp16=self.mixed == "fp16",
            dataloader_num_workers=0,
            **extra,
        )

    def logging_steps(self) -> int:
        """About 20 loss points per epoch for the curve, never fewer than one step apart."""
        s = self.settings
        steps = len(self.data.train) / (s["batch_size"] * s["gradient_accumulation"])
        if s["max_steps"]:
            steps = min(steps, s["max_steps"])
        return max(1, int(steps // 20))

    def callbacks(self) -> list[Any]:
        from transformers import EarlyStoppingCallback

        callbacks: list[Any] = [_progress_callback(self.progress)]
        if self.settings["patience"]:
            callbacks.append(EarlyStoppingCallback(early_stopping_patience=self.settings["patience"]))
        return callbacks

    def fit(self, trainer: Any) -> tuple[float, float | None]:
        from transformers.trainer_callback import PrinterCallback, ProgressCallback

        # The stock callbacks print log dicts to stdout; ours draws on stderr.
        trainer.remove_callback(PrinterCallback)
        trainer.remove_callback(ProgressCallback)
        start = time.perf_counter()
        try:
            output = trainer.train(resume_from_checkpoint=True if self.resume else None)
        except NluError:
            raise
        except (ValueError, KeyError, IndexError) as e:
            # Data problems the checks could not foresee surface deep inside the Trainer; say where to look.
            raise TrainingDataError(
                f"training failed on the data: {e}", "run with NLU_DEBUG=1 for the traceback"
            ) from e
        seconds = time.perf_counter() - start
        return seconds, (output.metrics or {}).get("train_samples_per_second")

    def fit_and_save(self, trainer: Any, tokenizer: Any, labels: list[str]) -> FinetuneResult:
        """Train, then save the (LoRA-merged) model with its tokenizer: the transformers-model tasks' ending."""
        seconds, sps = self.fit(trainer)

        def save(out: Path) -> None:
            final = trainer.model
            if self.lora:
                final = final.merge_and_unload()
            _save_atomically(out, lambda tmp: (final.save_pretrained(tmp), tokenizer.save_pretrained(tmp)))

        return self.finish(trainer, labels, seconds, sps, save)

    def finish(self, trainer: Any, labels: list[str], seconds: float, sps: float | None, save: Callable) -> Any:
        history = epoch_history(trainer.state.log_history)
        for row in history:  # sentence-transformers' long metric names -> ours
            for long, short in getattr(self, "aliases", {}).items():
                if long in row:
                    row[short] = row.pop(long)
        metric = self.settings["metric"]
        best = _best_row(history, metric)
        result = FinetuneResult(
            task=self.task,
            output_dir=self.out,
            base_model=self.base["name"],
            labels=labels,
            metrics={k: v for k, v in (best or {}).items() if k not in ("epoch", "step")},
            history=history,
            metric=metric if self.data.eval is not None else None,
            best_epoch=(best or {}).get("epoch"),
            train_seconds=seconds,
            train_samples_per_second=sps,
            train_rows=len(self.data.train),
            eval_rows=len(self.data.eval) if self.data.eval is not None else 0,
            steps=int(trainer.state.global_step),
            device=self.device,
            precision=self.mixed or "fp32",
        )
        if not trainer.is_world_process_zero():
            return result
        save(self.out)
        files = {"model": self.out}
        files["metrics"] = write_json(
            {
                "task": self.task,
                "metric": result.metric,
                "best_epoch": result.best_epoch,
                "final": result.metrics,
                "epochs": history,
                "steps": result.steps,
                "train_seconds": round(seconds, 2),
                "train_samples_per_second": sps,
                "settings": self.settings,
                "data": self.data.info,
            },
            self.out / METRICS_FILE,
        )
        files["curve"] = plot_training_curve(
            history, step_losses(trainer.state.log_history), result.metric, self.out / CURVE_FILE
        )
        card = model_card(
            task=self.task,
            base_model=self.base["name"],
            data=self.data.info,
            labels=labels,
            settings=self.settings,
            history=history,
            final=result.metrics,
            metric=result.metric,
            train_seconds=seconds,
            device=self.device,
        )
        with atomic_output(self.out / CARD_FILE) as f:
            f.write(card)
        files["card"] = self.out / CARD_FILE
        result.files = files
        return result

    # ---- classification, multi-label, NER, QA ------------------------------------------------------------------

    def train_transformers(self) -> FinetuneResult:
        from transformers import AutoTokenizer, TrainingArguments

        tokenizer = AutoTokenizer.from_pretrained(self.base["path"], trust_remote_code=self.trust_remote_code)
        if not getattr(tokenizer, "is_fast", False):
            raise UsageError(f"model {self.base['name']!r} has no fast tokenizer", "use a model with tokenizer.json")
        limit = _token_limit(tokenizer, self.max_length or DEFAULT_MAX_LENGTH[self.task])
        self.settings["max_length"] = limit
        labels = list(self.data.labels)
        prep = _TASK_PREP[self.task](tokenizer, limit, labels)
        model = self.load_model(labels)
        train_ds = self.data.train.map(
            prep.encode, batched=True, remove_columns=self.data.train.column_names, desc="tokenizing train"
        )
        eval_ds = None
        compute_metrics = None
        if self.data.eval is not None:
            eval_ds = self.data.eval.map(
                prep.encode_eval,
                batched=True,
                with_indices=True,
                remove_columns=self.data.eval.column_names,
                desc="tokenizing eval",
            )
            compute_metrics = prep.metrics_for(self.data.eval, eval_ds)
            eval_ds = eval_ds.remove_columns([c for c in prep.eval_only_columns if c in eval_ds.column_names])
        args = self.training_arguments(TrainingArguments, train_sampling_strategy="group_by_length")
        trainer = _SequentialEvalTrainer(
            model=model,
            args=args,
            train_dataset=train_ds,
            eval_dataset=eval_ds,
            data_collator=prep.collator,
            processing_class=tokenizer,
            compute_metrics=compute_metrics,
            callbacks=self.callbacks(),
        )
        return self.fit_and_save(trainer, tokenizer, labels)

    def load_model(self, labels: list[str]) -> Any:
        import torch
        from transformers import (
            AutoModelForQuestionAnswering,
            AutoModelForSequenceClassification,
            AutoModelForTokenClassification,
        )

        torch.manual_seed(self.settings["seed"])  # the new head's initial weights
        kwargs: dict[str, Any] = {"use_safetensors": True, "trust_remote_code": self.trust_remote_code}
        if self.task == "qa":
            cls = AutoModelForQuestionAnswering
        else:
            cls = AutoModelForTokenClassification if self.task == "ner" else AutoModelForSequenceClassification
            kwargs |= {
                "num_labels": len(labels),
                "id2label": dict(enumerate(labels)),
                "label2id": {label: i for i, label in enumerate(labels)},
                # A base with another head (e.g. SST-2 -> 3 classes) gets a fresh one of the right size.
                "ignore_mismatched_sizes": True,
            }
            if self.task == "multilabel":
                kwargs["problem_type"] = "multi_label_classification"
            elif self.task == "classification":
                kwargs["problem_type"] = "single_label_classification"
        try:
            model = cls.from_pretrained(self.base["path"], **kwargs)
        except (OSError, ValueError) as e:
            from nlu_toolkit.errors import ModelNotAvailable

            raise ModelNotAvailable(
                f"cannot load base model {self.base['name']!r}: {e}", "pass --model with a transformers model folder"
            ) from e
        if self.lora:
            model = _with_lora(model, self.task, self.lora_rank)
        return model

    # ---- seq2seq (summaries, translations) -----------------------------------------------------------------------

    def train_seq2seq(self) -> FinetuneResult:
        from transformers import AutoTokenizer, Seq2SeqTrainer, Seq2SeqTrainingArguments

        # Generation only encodes and decodes: a slow (sentencepiece) tokenizer, e.g. Marian's, is fine here.
        tokenizer = AutoTokenizer.from_pretrained(self.base["path"], trust_remote_code=self.trust_remote_code)
        model = self.load_seq2seq_model()
        limit = _token_limit(tokenizer, self.max_length or DEFAULT_MAX_LENGTH[self.task])
        # Targets: also within the decoder's learned positions (BART, Marian); T5's are relative (no limit).
        target_limit = _token_limit(tokenizer, self.max_target_length)
        positions = getattr(model.config, "max_position_embeddings", None)
        if isinstance(positions, int) and positions > 0:
            target_limit = min(target_limit, positions)
        self.settings["max_length"], self.settings["max_target_length"] = limit, target_limit
        _generation_limit(model, target_limit)
        if self.source_prefix:
            model.config.prefix = self.source_prefix  # so inference (and nlu evaluate) can apply it too
        prep = _Seq2SeqPrep(
            tokenizer, limit, [], model=model, max_target_length=target_limit, source_prefix=self.source_prefix
        )
        if self.lora:
            model = _with_lora(model, self.task, self.lora_rank)
        train_ds = self.data.train.map(
            prep.encode, batched=True, remove_columns=self.data.train.column_names, desc="tokenizing train"
        )
        eval_ds = compute_metrics = None
        if self.data.eval is not None:
            eval_ds = self.data.eval.map(
                prep.encode, batched=True, remove_columns=self.data.eval.column_names, desc="tokenizing eval"
            )
            compute_metrics = prep.metrics_for(self.data.eval, eval_ds)
        args = self.training_arguments(
            Seq2SeqTrainingArguments,
            train_sampling_strategy="group_by_length",
            predict_with_generate=True,
            generation_max_length=target_limit,
            generation_num_beams=None,  # the model's own (greedy unless its generation config says otherwise)
        )
        # Eval batches may be grouped by length too: predictions travel with their labels, so order does not matter.
        trainer = Seq2SeqTrainer(
            model=model,
            args=args,
            train_dataset=train_ds,
            eval_dataset=eval_ds,
            data_collator=prep.collator,
            processing_class=tokenizer,
            compute_metrics=compute_metrics,
            callbacks=self.callbacks(),
        )
        return self.fit_and_save(trainer, tokenizer, [])

    def load_seq2seq_model(self) -> Any:
        import torch
        from transformers import AutoModelForSeq2SeqLM

        torch.manual_seed(self.settings["seed"])
        try:
            return AutoModelForSeq2SeqLM.from_pretrained(
                self.base["path"], use_safetensors=True, trust_remote_code=self.trust_remote_code
            )
        except (OSError, ValueError) as e:
            from nlu_toolkit.errors import ModelNotAvailable

            raise ModelNotAvailable(
                f"cannot load base model {self.base['name']!r}: {e}",
                "pass --model with a transformers seq2seq model folder (safetensors weights)",
            ) from e

    # ---- sentence embeddings -----------------------------------------------------------------------------------

    def train_embedding(self) -> FinetuneResult:
        from sentence_transformers import (
            SentenceTransformer,
            SentenceTransformerTrainer,
            SentenceTransformerTrainingArguments,
        )
        from sentence_transformers.sentence_transformer import losses

        kind = self.data.info.get("pair_kind", "scored")
        model = SentenceTransformer(
            self.base["path"],
            device=self.device,
            trust_remote_code=self.trust_remote_code,
            model_kwargs={"use_safetensors": True},
        )
        if self.max_length:
            model.max_seq_length = self.max_length
        self.settings["max_length"] = model.max_seq_length
        # Cosine MSE, not CoSENT, by default: continuing all-MiniLM-L6-v2 on STS-B train for one epoch moved
        # dev Spearman 0.867 -> 0.891 with it, but down to 0.853 with CoSENT (benchmarks/RESULTS.md).
        name = self.loss or ("cosine" if kind == "scored" else "mnrl")
        if (name in SCORED_LOSSES) != (kind == "scored"):
            fits = ", ".join(SCORED_LOSSES if kind == "scored" else PAIR_LOSSES)
            raise UsageError(f"--loss {name} does not fit {kind} pairs", f"use one of: {fits}")
        loss = {
            "cosent": losses.CoSENTLoss,
            "cosine": losses.CosineSimilarityLoss,
            "angle": losses.AnglELoss,
            "mnrl": losses.MultipleNegativesRankingLoss,
        }[name](model)
        self.settings["loss"] = type(loss).__name__
        evaluator, aliases = None, {}
        if self.data.eval is not None:
            evaluator, aliases = _embedding_evaluator(self.data.eval, kind)
        self.aliases = aliases
        extra: dict[str, Any] = {}
        if kind != "scored":
            extra["batch_sampler"] = "no_duplicates"  # a duplicate in a batch would be a false negative
        args = self.training_arguments(SentenceTransformerTrainingArguments, **extra)
        if evaluator is not None:
            # The evaluator reports e.g. eval_sts_spearman_cosine; the user names it "spearman".
            full = {v: k for k, v in aliases.items()}.get(self.settings["metric"], self.settings["metric"])
            args.metric_for_best_model = full if full.startswith("eval_") else f"eval_{full}"
        trainer = SentenceTransformerTrainer(
            model=model,
            args=args,
            train_dataset=self.data.train,
            eval_dataset=self.data.eval,
            loss=loss,
            evaluator=evaluator,
            callbacks=self.callbacks(),
        )
        seconds, sps = self.fit(trainer)
        return self.finish(trainer, [], seconds, sps, lambda out: _save_atomically(out, model.save_pretrained))


class _SequentialEvalTrainer:
    """Placeholder replaced on first use by a `transformers.Trainer` subclass (keeps this module import-light)."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        return _sequential_eval_trainer_class()(*args, **kwargs)


def _sequential_eval_trainer_class() -> type:
    import torch
    from transformers import Trainer

    class SequentialEvalTrainer(Trainer):
        """A Trainer that evaluates in dataset order.

        With ``group_by_length``, transformers 5 also groups eval batches by length,
        which reorders predictions; QA needs them in feature order to map windows
        back to questions.
        """

        def _get_eval_sampler(self, eval_dataset: Any) -> Any:
            if self.args.world_size <= 1:
                return torch.utils.data.SequentialSampler(eval_dataset)
            return super()._get_eval_sampler(eval_dataset)

    return SequentialEvalTrainer


def _best_row(history: list[dict[str, Any]], metric: str) -> dict[str, Any] | None:
    scored = [r for r in history if metric in r]
    if not scored:
        return None
    pick = min if metric.endswith("loss") else max
    return pick(scored, key=lambda r: r[metric])


def _token_limit(tokenizer: Any, requested: int) -> int:
    limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(limit, int) and 0 < limit < 100_000:
        return min(requested, limit)
    return requested


def _save_atomically(out: Path, write: Callable[[str], Any]) -> None:
    """Write the model files into a temp folder beside ``out``, then move each file in with a rename."""
    tmp = Path(tempfile.mkdtemp(prefix=".saving-", dir=out))
    try:
        write(str(tmp))
        for path in sorted(tmp.rglob("*")):
            target = out / path.relative_to(tmp)
            if path.is_dir():
                target.mkdir(parents=True, exist_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(path, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _with_lora(model: Any, task: str, rank: int) -> Any:
    from nlu_toolkit.extras import require

    peft = require("peft", extra="peft")
    task_type = {
        "classification": peft.TaskType.SEQ_CLS,
        "multilabel": peft.TaskType.SEQ_CLS,
        "ner": peft.TaskType.TOKEN_CLS,
        "qa": peft.TaskType.QUESTION_ANS,
        "seq2seq": peft.TaskType.SEQ_2_SEQ_LM,
    }[task]
    config = peft.LoraConfig(task_type=task_type, r=rank, lora_alpha=2 * rank, lora_dropout=0.1)
    try:
        return peft.get_peft_model(model, config)
    except ValueError as e:  # peft knows no default target modules for this architecture
        raise UsageError(f"--lora cannot adapt this model: {e}", "drop --lora") from e


def _embedding_evaluator(eval_ds: Any, kind: str) -> tuple[Any, dict[str, str]]:
    """A sentence-transformers evaluator for the eval data, and our short names for its metric keys."""
    from sentence_transformers.sentence_transformer.evaluation import (
        EmbeddingSimilarityEvaluator,
        InformationRetrievalEvaluator,
    )

    if kind == "scored":
        evaluator = EmbeddingSimilarityEvaluator(
            eval_ds["sentence1"], eval_ds["sentence2"], eval_ds["score"], name="sts", show_progress_bar=False
        )
        return evaluator, {"sts_spearman_cosine": "spearman", "sts_pearson_cosine": "pearson"}
    queries = {str(i): q for i, q in enumerate(eval_ds["anchor"])}
    docs = {str(i): d for i, d in enumerate(eval_ds["positive"])}
    relevant = {str(i): {str(i)} for i in range(len(eval_ds))}
    evaluator = InformationRetrievalEvaluator(
        queries, docs, relevant, name="ir", show_progress_bar=False, mrr_at_k=[10], accuracy_at_k=[1, 3, 5, 10]
    )
    return evaluator, {
        "ir_cosine_mrr@10": "mrr@10",
        "ir_cosine_recall@1": "recall@1",
        "ir_cosine_recall@10": "recall@10",
    }


# ---- per-task tokenization and metrics ---------------------------------------------------------------------------


class _Prep:
    """How one task turns rows into features, and predictions into metrics."""

    eval_only_columns: tuple[str, ...] = ()

    def __init__(self, tokenizer: Any, max_length: int, labels: list[str]) -> None:
        from transformers import DataCollatorWithPadding

        self.tokenizer, self.max_length, self.labels = tokenizer, max_length, labels
        self.collator = DataCollatorWithPadding(tokenizer)

    def encode_eval(self, batch: dict[str, list], indices: list[int]) -> dict[str, list]:
        return self.encode(batch)

    def texts(self, batch: dict[str, list]) -> dict[str, Any]:
        args = (batch["text"], batch["text_pair"]) if "text_pair" in batch else (batch["text"],)
        return self.tokenizer(*args, truncation=True, max_length=self.max_length)

    def encode(self, batch: dict[str, list]) -> dict[str, list]:
        enc = self.texts(batch)
        enc["labels"] = batch["label"]
        return dict(enc)

    def metrics_for(self, eval_rows: Any, eval_features: Any) -> Callable[[Any], dict[str, float]]:
        raise NotImplementedError


class _ClassificationPrep(_Prep):
    def metrics_for(self, eval_rows: Any, eval_features: Any) -> Callable[[Any], dict[str, float]]:
        from nlu_toolkit.core.metrics import classification_metrics

        def compute(pred: Any) -> dict[str, float]:
            logits = pred.predictions[0] if isinstance(pred.predictions, tuple) else pred.predictions
            found = classification_metrics(
                np.asarray(pred.label_ids).tolist(), np.argmax(logits, axis=-1).tolist(), self.labels
            )
            return {k: found[k] for k in ("accuracy", "macro_f1", "mcc")}

        return compute


class _MultilabelPrep(_Prep):
    def metrics_for(self, eval_rows: Any, eval_features: Any) -> Callable[[Any], dict[str, float]]:
        from nlu_toolkit.core.metrics import multilabel_metrics

        def compute(pred: Any) -> dict[str, float]:
            logits = pred.predictions[0] if isinstance(pred.predictions, tuple) else pred.predictions
            found = multilabel_metrics(np.asarray(pred.label_ids) > 0.5, np.asarray(logits) > 0.0, self.labels)
            return {k: found[k] for k in ("accuracy", "micro_f1", "macro_f1")}

        return compute


class _NerPrep(_Prep):
    """Labels on each word's first sub-token; other sub-tokens and specials get -100 (ignored)."""

    def __init__(self, tokenizer: Any, max_length: int, labels: list[str]) -> None:
        from transformers import DataCollatorForTokenClassification

        super().__init__(tokenizer, max_length, labels)
        self.collator = DataCollatorForTokenClassification(tokenizer)

    def encode(self, batch: dict[str, list]) -> dict[str, list]:
        enc = self.tokenizer(batch["tokens"], is_split_into_words=True, truncation=True, max_length=self.max_length)
        all_labels = []
        for i, tags in enumerate(batch["tags"]):
            previous = None
            row = []
            for word in enc.word_ids(i):
                row.append(-100 if word is None or word == previous else tags[word])
                previous = word
            all_labels.append(row)
        enc["labels"] = all_labels
        return dict(enc)

    def metrics_for(self, eval_rows: Any, eval_features: Any) -> Callable[[Any], dict[str, float]]:
        from nlu_toolkit.core.metrics import ner_metrics

        gold = [[self.labels[t] for t in tags] for tags in eval_rows["tags"]]

        def compute(pred: Any) -> dict[str, float]:
            logits = pred.predictions[0] if isinstance(pred.predictions, tuple) else pred.predictions
            ids = np.argmax(logits, axis=-1)
            predicted = []
            for row_ids, row_labels in zip(ids, pred.label_ids, strict=True):
                predicted.append([self.labels[p] for p, g in zip(row_ids, row_labels, strict=False) if g != -100])
            # Words cut off by --max-length have no prediction: count them as "O" against the full gold sequence.
            truth = gold if len(gold) == len(predicted) else gold[: len(predicted)]
            padded = [p + ["O"] * (len(t) - len(p)) for p, t in zip(predicted, truth, strict=True)]
            found = ner_metrics(truth, padded)
            return {k: found[k] for k in ("precision", "recall", "f1", "accuracy")}

        return compute


class _QaPrep(_Prep):
    """SQuAD-style windows: a long context becomes several features of ``max_length`` tokens."""

    eval_only_columns = ("example_index", "offset_mapping")

    def __init__(self, tokenizer: Any, max_length: int, labels: list[str]) -> None:
        super().__init__(tokenizer, max_length, labels)
        self.stride = min(128, max_length // 4)

    def windows(self, batch: dict[str, list]) -> Any:
        questions = [q.strip() for q in batch["question"]]
        # A question that leaves no more room than the stride makes the Rust tokenizer panic; say which one.
        specials = self.tokenizer.num_special_tokens_to_add(pair=True)
        for qid, ids in zip(batch["id"], self.tokenizer(questions, add_special_tokens=False)["input_ids"], strict=True):
            if self.max_length - specials - len(ids) <= self.stride:
                raise TrainingDataError(
                    f"question {qid!r} is too long: {len(ids)} tokens leave no room for the context "
                    f"under --max-length {self.max_length}",
                    "raise --max-length or shorten the question",
                )
        try:
            return self.tokenizer(
                questions,
                batch["context"],
                truncation="only_second",
                max_length=self.max_length,
                stride=self.stride,
                return_overflowing_tokens=True,
                return_offsets_mapping=True,
            )
        except Exception as e:  # the Rust tokenizer refuses questions that leave no room for the context
            raise TrainingDataError(
                f"a question is too long for --max-length {self.max_length}: {e}", "raise --max-length"
            ) from e

    def encode(self, batch: dict[str, list]) -> dict[str, list]:
        return self.features(batch, None)

    def encode_eval(self, batch: dict[str, list], indices: list[int]) -> dict[str, list]:
        return self.features(batch, indices)

    def features(self, batch: dict[str, list], indices: list[int] | None) -> dict[str, list]:
        """Windows with start/end token labels; for eval also each window's question row and context offsets."""
        enc = self.windows(batch)
        starts, ends, context_offsets = [], [], []
        for w, offsets in enumerate(enc["offset_mapping"]):
            answers = batch["answers"][enc["overflow_to_sample_mapping"][w]]
            seq = enc.sequence_ids(w)
            ctx = [i for i, s in enumerate(seq) if s == 1]
            if indices is not None:  # offsets of context tokens only, so decoding cannot pick the question
                context_offsets.append([list(o) if s == 1 else None for o, s in zip(offsets, seq, strict=True)])
            start = end = 0  # the CLS token: "no answer (in this window)"
            if answers["text"] and ctx:
                a_start = answers["answer_start"][0]
                a_end = a_start + len(answers["text"][0])
                if offsets[ctx[0]][0] <= a_start and offsets[ctx[-1]][1] >= a_end:
                    start = next(i for i in ctx if offsets[i][1] > a_start)
                    end = next(i for i in reversed(ctx) if offsets[i][0] < a_end)
            starts.append(start)
            ends.append(end)
        samples = enc.pop("overflow_to_sample_mapping")
        enc.pop("offset_mapping")
        enc["start_positions"], enc["end_positions"] = starts, ends
        if indices is not None:
            enc["example_index"] = [indices[s] for s in samples]
            enc["offset_mapping"] = context_offsets
        return dict(enc)

    def metrics_for(self, eval_rows: Any, eval_features: Any) -> Callable[[Any], dict[str, float]]:
        from nlu_toolkit.core.metrics import squad_metrics
        from nlu_toolkit.core.qa import decode_window

        examples = eval_rows
        feature_examples = eval_features["example_index"]
        feature_offsets = eval_features["offset_mapping"]
        lengths = [len(ids) for ids in eval_features["input_ids"]]
        allow_impossible = any(not a["text"] for a in examples["answers"])

        def compute(pred: Any) -> dict[str, float]:
            start_logits, end_logits = pred.predictions[:2]
            best: dict[int, tuple[float, str]] = {}
            null: dict[int, float] = {}
            for f, example in enumerate(feature_examples):
                n = lengths[f]
                mask = np.array([o is not None for o in feature_offsets[f]])
                spans, null_score = decode_window(
                    np.asarray(start_logits[f][:n], dtype=np.float64),
                    np.asarray(end_logits[f][:n], dtype=np.float64),
                    mask,
                    max_answer_len=30,
                    top_k=1,
                )
                null[example] = min(null.get(example, 1.0), null_score)
                for span in spans:
                    a, b = feature_offsets[f][span.start_token][0], feature_offsets[f][span.end_token][1]
                    if example not in best or span.score > best[example][0]:
                        best[example] = (span.score, examples["context"][example][a:b])
            predictions, references = {}, {}
            for i, (qid, answers) in enumerate(zip(examples["id"], examples["answers"], strict=True)):
                score, text = best.get(i, (0.0, ""))
                if allow_impossible and null.get(i, 1.0) > score:
                    text = ""
                predictions[qid] = text
                references[qid] = list(answers["text"])
            found = squad_metrics(predictions, references)
            return {"exact_match": found["exact_match"], "f1": found["f1"]}

        return compute


class _Seq2SeqPrep(_Prep):
    """Sources (with the prefix) as inputs, target token ids as labels; the collator pads labels with -100."""

    def __init__(
        self,
        tokenizer: Any,
        max_length: int,
        labels: list[str],
        *,
        model: Any,
        max_target_length: int,
        source_prefix: str | None,
    ) -> None:
        from transformers import DataCollatorForSeq2Seq

        self.tokenizer, self.max_length, self.labels = tokenizer, max_length, labels
        self.max_target_length, self.prefix = max_target_length, source_prefix or ""
        # With the model, the collator also builds decoder_input_ids (labels shifted right).
        self.collator = DataCollatorForSeq2Seq(tokenizer, model=model)

    def encode(self, batch: dict[str, list]) -> dict[str, list]:
        sources = [self.prefix + text for text in batch["source"]] if self.prefix else batch["source"]
        enc = self.tokenizer(sources, truncation=True, max_length=self.max_length)
        targets = self.tokenizer(text_target=batch["target"], truncation=True, max_length=self.max_target_length)
        enc["labels"] = targets["input_ids"]
        return dict(enc)

    def metrics_for(self, eval_rows: Any, eval_features: Any) -> Callable[[Any], dict[str, float]]:
        from nlu_toolkit.core.metrics import seq2seq_metrics

        tok = self.tokenizer
        pad = tok.pad_token_id if tok.pad_token_id is not None else (tok.eos_token_id or 0)

        def compute(pred: Any) -> dict[str, float]:
            generated = pred.predictions[0] if isinstance(pred.predictions, tuple) else pred.predictions
            # -100 marks padding added when batches were gathered (and the labels' ignored positions).
            generated = np.where(np.asarray(generated) != -100, generated, pad)
            gold = np.where(np.asarray(pred.label_ids) != -100, pred.label_ids, pad)
            predictions = [t.strip() for t in tok.batch_decode(generated, skip_special_tokens=True)]
            references = [t.strip() for t in tok.batch_decode(gold, skip_special_tokens=True)]
            found = seq2seq_metrics(predictions, references)
            return {k: found[k] for k in METRICS["seq2seq"]}

        return compute


def _generation_limit(model: Any, limit: int) -> None:
    """Generate up to ``limit`` tokens, in evaluation and from the saved folder (``nlu summarize --model DIR``).

    Base configs often keep the library default of 20 tokens (t5-small), which would cut summaries short.
    """
    generation = getattr(model, "generation_config", None)
    if generation is None:
        return
    generation.max_length = limit
    generation.max_new_tokens = None  # it would override max_length
    if isinstance(generation.min_length, int) and generation.min_length > limit:
        generation.min_length = limit


_TASK_PREP: dict[str, type[_Prep]] = {
    "classification": _ClassificationPrep,
    "multilabel": _MultilabelPrep,
    "ner": _NerPrep,
    "qa": _QaPrep,
}


def _progress_callback(enabled: bool) -> Any:
    from transformers import TrainerCallback

    class StderrProgress(TrainerCallback):
        """A rich progress bar on stderr with the latest loss, and a line per evaluation."""

        def __init__(self) -> None:
            self.progress: Any = None
            self.task: Any = None

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if not enabled or not state.is_world_process_zero:
                return
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.progress = Progress(
                TextColumn("training"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[info]}"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self.progress.start()
            self.task = self.progress.add_task("train", total=state.max_steps, completed=state.global_step, info="")

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if self.progress is not None:
                self.progress.update(self.task, completed=state.global_step)

        def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kwargs: Any) -> None:
            if self.progress is None or not logs:
                return
            if "loss" in logs:
                self.progress.update(self.task, info=f"epoch {logs.get('epoch', 0):.2f} loss {logs['loss']:.4f}")
            scores = {k[5:]: v for k, v in logs.items() if k.startswith("eval_") and isinstance(v, float)}
            if scores:
                shown = ", ".join(
                    f"{k} {v:.4f}" for k, v in scores.items() if not k.endswith(("runtime", "per_second"))
                )
                self.progress.console.print(f"epoch {logs.get('epoch', 0):.2f}: {shown}")

        def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if self.progress is not None:
                self.progress.stop()
                self.progress = None

    return StderrProgress()
