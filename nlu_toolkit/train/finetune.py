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
Beside it: ``metrics.json`` (per epoch), ``training_curve.png``, a model card and ``run_manifest.json``
(versions, base model and data checksums, settings, seed: `nlu_toolkit.io.run_manifest`; also under
``manifest`` in metrics.json).

Several processes (GPUs, nodes, or CPU processes over gloo): run the same command under
``accelerate launch --multi_gpu --num_processes N`` or ``torchrun --nproc_per_node N`` (see README and
`nlu_toolkit.train.launch`). Each process trains on its own shard of every epoch (``batch_size`` is per
process); losses and metrics are averaged over all processes; only the main process writes files.
A launch that asked for N processes but started one is refused (`check_launch`).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nlu_toolkit.errors import UsageError
from nlu_toolkit.models.quiet import quiet_libraries
from nlu_toolkit.models.static import is_static_folder
from nlu_toolkit.train.args import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_EPOCHS,
    DEFAULT_LR,
    DEFAULT_METRIC,
    METRICS,
    PAIR_LOSSES,
    PRECISIONS,
    SCORED_LOSSES,
    FinetuneResult,
)
from nlu_toolkit.train.data import TASKS, load_task_data
from nlu_toolkit.train.driver import _Run
from nlu_toolkit.train.guard import CHECKPOINTS, check_base, check_output, output_run
from nlu_toolkit.train.launch import check_launch, world_size
from nlu_toolkit.train.progress import TrainProgress

__all__ = ["FinetuneResult", "TrainProgress", "finetune"]


def finetune(
    task: str,
    train: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    *,
    eval: str | os.PathLike[str] | None = None,
    eval_split: float | None = None,
    model: str | None = None,
    epochs: float | None = None,
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
    sample_per_class: int | None = None,
    multi_label: bool = False,
    head: str | None = None,
    num_iterations: int | None = None,
    pairs_per_example: int | None = None,
    max_target_length: int = 128,
    source_prefix: str | None = None,
    trust_remote_code: bool = False,
    progress: Callable[[TrainProgress], None] | None = None,
) -> FinetuneResult:
    """Fine-tune ``model`` (default: the embedded all-MiniLM-L6-v2) for ``task`` and save it to ``output_dir``.

    Args:
        task: ``classification``, ``multilabel``, ``ner``, ``qa``, ``embedding``, ``seq2seq``
            (source/target text pairs: summaries or translations; needs a seq2seq ``model`` such as
            t5-small, facebook/bart-base or a local folder, since MiniLM cannot generate) or ``fewshot``
            (a few labelled texts per class: SetFit's recipe, `nlu_toolkit.train.fewshot`; the folder is
            the tuned sentence encoder plus a linear head). ``classification``/``multilabel`` on a static
            ``model`` (``nlu distill``) fit a head on its frozen vectors instead of training a transformer.
        multi_label: ``fewshot``: the label column holds several labels per row (as for ``multilabel``).
        head: ``fewshot`` or a static base: ``logreg`` (scikit-learn logistic regression, default) or
            ``torch`` (the same linear layer trained by gradient descent); saved as safetensors either way.
        num_iterations, pairs_per_example: ``fewshot``: contrastive pairs per example and kind, or in all
            (`nlu_toolkit.train.fewshot_pairs`; default: every pair, the rarer kind oversampled, as SetFit).
        train, eval: data files (see `nlu_toolkit.train.data`); ``eval_split``
            holds out a fraction of ``train`` instead.
        sample_per_class: classification: train on this many rows of each class, drawn with ``seed``
            from ``train`` (after ``eval_split``); the drawn rows are listed in metrics.json ``data.sample``.
        epochs, lr, batch_size, max_length, seed, warmup (a fraction of the
            steps), weight_decay, gradient_accumulation: the usual knobs; lr,
            batch_size and max_length default per task (`DEFAULT_LR`,
            `DEFAULT_BATCH_SIZE`, `DEFAULT_MAX_LENGTH`).
        patience: stop after this many evaluations without improvement of
            ``metric`` (default per task: accuracy, micro_f1, f1, f1, spearman, rougeL;
            ``metric="bleu"`` suits translation).
            The best epoch's model is the one saved. A run stopped before its last epoch says so in the
            result (``stopped_early``, ``stopped_at_epoch`` of ``planned_epochs``) and in metrics.json.
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
        progress: called with a `TrainProgress` as the run starts, after each optimiser step, at each
            loss log and evaluation, and as it ends (by the main process only); nothing is drawn here.

    Raises:
        TrainingDataError: unusable data (empty, wrong column, bad labels, spans, tags).
        UsageError: bad option values, or an output folder that already holds a model.
        OutputError: an output folder that is an input, a file, or a folder that is not a fine-tune output.
        ModelNotAvailable: the base model cannot be found offline (`UnsafeModel`: it has pickle weights only).
        CheckpointCorrupted: under ``resume``, the last checkpoint is incomplete or unreadable.
        ArtefactBusy: another run is writing ``output_dir``.
    """
    from nlu_toolkit.core.device import resolve_device

    if task not in (*TASKS, "fewshot"):
        raise UsageError(f"unknown task {task!r}", f"use {{=task}} {'|'.join((*TASKS, 'fewshot'))}")
    data_task = ("multilabel" if multi_label else "classification") if task == "fewshot" else task
    if multi_label and task != "fewshot":
        raise UsageError("{=multi_label} is for {=task} fewshot", "use {=task} multilabel for a multi-label model")
    _check_fewshot_options(task, num_iterations=num_iterations, pairs_per_example=pairs_per_example)
    epochs = DEFAULT_EPOCHS.get(task, 3.0) if epochs is None else epochs
    if progress is False:  # the old "no bar" value
        progress = None
    if progress is not None and not callable(progress):
        raise UsageError(
            f"{{=progress}} must be a function taking a TrainProgress, got {type(progress).__name__}",
            "pass a callback, or leave {=progress} out",
        )
    if loss is not None and (task != "embedding" or loss not in (*SCORED_LOSSES, *PAIR_LOSSES)):
        raise UsageError(
            f"{{=loss}} {loss} is not an embedding loss",
            "use {=loss} with {=task} embedding: cosent, cosine, angle, mnrl",
        )
    if precision not in PRECISIONS:
        raise UsageError(f"unknown precision {precision!r}", f"use one of: {', '.join(PRECISIONS)}")
    if task == "seq2seq" and model is None:
        raise UsageError(
            "{=task} seq2seq needs a sequence-to-sequence base model; the default (all-MiniLM-L6-v2) "
            "is an encoder and cannot generate text",
            "set {=model} to t5-small, facebook/bart-base or a local seq2seq folder (T5, BART, Marian); "
            "offline, fetch one first with `nlu models pull ID` on a connected machine and copy its HF cache here",
        )
    if source_prefix is not None and task != "seq2seq":
        raise UsageError("{=source_prefix} is for {=task} seq2seq", "drop {=source_prefix}")
    _check_numbers(epochs=epochs, batch_size=batch_size, max_length=max_length, max_steps=max_steps, patience=patience)
    check_launch()
    _check_numbers(max_target_length=max_target_length)
    batch_size = batch_size or DEFAULT_BATCH_SIZE.get(task, 32)
    if lr is not None and not lr > 0:
        raise UsageError(f"{{=lr}} must be positive, got {lr}", "use e.g. {=lr} 5e-5")
    if not 0 <= warmup < 1:
        raise UsageError(f"{{=warmup}} must be a fraction in [0, 1), got {warmup}", "use e.g. {=warmup} 0.1")
    out = Path(output_dir)
    inputs = [p for p in (train, eval) if isinstance(p, str | os.PathLike)]
    check_output(out, inputs=inputs, resume=resume, overwrite=overwrite)
    resolved_device = resolve_device(device)
    mixed = _mixed_precision(precision, resolved_device)
    data = load_task_data(
        data_task,
        train,
        eval,
        eval_split=eval_split,
        seed=seed,
        text_column=text_column,
        text_pair_column=text_pair_column,
        label_column=label_column,
        sample_per_class=sample_per_class,
    )
    if metric is None:
        pairs = task == "embedding" and data.info.get("pair_kind") == "pairs"
        metric = "mrr@10" if pairs else DEFAULT_METRIC[data_task]
    metric = "eval_loss" if metric in ("loss", "eval_loss") else metric
    if metric not in (*METRICS[data_task], "eval_loss"):
        raise UsageError(
            f"{{=metric}} {metric} is not reported for {task}", f"use one of: {', '.join(METRICS[data_task])}, loss"
        )
    if patience is not None and data.eval is None:
        raise UsageError("{=patience} needs evaluation data", "pass an {=eval} file or {=eval_split} 0.1")
    base = _base_model(model, task)
    if task == "seq2seq":
        _check_seq2seq_base(base, trust_remote_code)
    static = is_static_folder(base["path"])
    _check_head_route(task, static, head=head, lora=lora, patience=patience, text_pair_column=text_pair_column)
    check_base(base, out)  # safetensors only, and not the output folder
    settings = {
        "base_model": base["name"],
        "epochs": epochs,
        "max_steps": max_steps,
        "learning_rate": lr or DEFAULT_LR[task],
        "batch_size": batch_size,
        "gradient_accumulation": gradient_accumulation,
        "processes": world_size(),  # one optimiser step sees batch_size * gradient_accumulation * processes examples
        "max_length": max_length,
        "warmup": warmup,
        "weight_decay": weight_decay,
        "seed": seed,
        "sample_per_class": sample_per_class,
        "patience": patience,
        "metric": metric,
        "lora": f"r={lora_rank}" if lora else None,
        "device": resolved_device,
        "train_precision": mixed or "fp32",  # not "precision": that is a NER score
    }
    if task == "seq2seq":
        settings["max_target_length"] = max_target_length
        settings["source_prefix"] = source_prefix
    if task == "fewshot" or static:
        settings["head"] = head or "logreg"
    if task == "fewshot":
        settings |= {
            "multi_label": multi_label,
            "num_iterations": num_iterations,
            "pairs_per_example": pairs_per_example,
        }
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
        inputs=inputs,
    )
    # The output folder is locked for the run; a failed run removes the folder it created (unless it checkpointed).
    # The libraries are quiet meanwhile: transformers' "newly initialized head" is expected when fine-tuning,
    # and the bars of loading weights, mapping data and writing shards would cut through ours, the training bar.
    with output_run(out, resume=resume, overwrite=overwrite), quiet_libraries():
        if task == "fewshot":
            result = run.train_fewshot()
        elif static:
            result = run.train_static_head()
        elif task == "embedding":
            if lora:
                raise UsageError("{=lora} is not supported for {=task} embedding", "drop {=lora}")
            result = run.train_embedding()
        elif task == "seq2seq":
            result = run.train_seq2seq()
        else:
            result = run.train_transformers()
        if not keep_checkpoints and result.files:
            shutil.rmtree(out / CHECKPOINTS, ignore_errors=True)
    return result


def _check_fewshot_options(task: str, **counts: int | None) -> None:
    given = [name for name, value in counts.items() if value is not None]
    _check_numbers(**counts)
    if given and task != "fewshot":
        raise UsageError(f"{{={given[0]}}} is for {{=task}} fewshot", f"drop {{={given[0]}}}")
    if len(given) > 1:
        raise UsageError("{=num_iterations} and {=pairs_per_example} both set the number of pairs", "give one")


def _check_head_route(task: str, static: bool, *, head: str | None, **refused: Any) -> None:
    """Options that do not apply to a classifier made of an encoder and a fitted head, and the head's kind."""
    from nlu_toolkit.models.head import HEAD_KINDS

    if static and task not in ("classification", "multilabel"):
        what = "fine-tunes a transformer encoder" if task == "fewshot" else "needs a transformer model"
        raise UsageError(
            f"the base {{=model}} is a static (Model2Vec) model, and {{=task}} {task} {what}",
            "use {=task} classification or multilabel on a static model (a head on its vectors), or a "
            "sentence-transformers {=model} such as the embedded MiniLM",
        )
    if task != "fewshot" and not static:
        if head is not None:
            raise UsageError("{=head} is for {=task} fewshot or a static base {=model}", "drop {=head}")
        return
    if head is not None and head not in HEAD_KINDS:
        raise UsageError(f"unknown {{=head}} {head!r}", f"use one of: {', '.join(HEAD_KINDS)}")
    for name, value in refused.items():
        if value:
            raise UsageError(
                f"{{={name}}} does not apply to a classifier of an encoder and a fitted head (scored once)",
                f"drop {{={name}}}",
            )


def _check_numbers(**values: float | None) -> None:
    for name, value in values.items():
        if value is not None and (isinstance(value, bool) or not value > 0):
            raise UsageError(f"{{={name}}} must be positive, got {value}", "pass a value above 0")


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
        raise UsageError(
            f"{{=precision}} {precision} needs a CUDA GPU ({{=device}} is {device})", "use {=precision} auto"
        )
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
            f"cannot load base model {base['name']!r}: {e}", "set {=model} to a transformers seq2seq model folder"
        ) from e
    remote = "AutoModelForSeq2SeqLM" in (getattr(config, "auto_map", None) or {})
    if config.model_type in MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES or remote:
        return
    archs = ", ".join(getattr(config, "architectures", None) or []) or config.model_type
    raise UsageError(
        f"model {base['name']!r} has no sequence-to-sequence head ({archs}); {{=task}} seq2seq trains an "
        "encoder-decoder that generates text",
        "set {=model} to t5-small, facebook/bart-base or a local seq2seq folder (T5, BART, Marian, Pegasus)",
    )
