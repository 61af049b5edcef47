"""The training run behind `finetune`: `_Run` builds the Trainer for a task and trains it; `nlu_toolkit.train.outputs`
then writes the output folder.

Classification, multi-label, NER and QA go through HF ``Trainer``; seq2seq through ``Seq2SeqTrainer``;
embeddings through ``SentenceTransformerTrainer`` (`nlu_toolkit.train.embedding`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nlu_toolkit.errors import NluError, TrainingDataError, UsageError
from nlu_toolkit.train.args import DEFAULT_MAX_LENGTH, FinetuneResult
from nlu_toolkit.train.data import TaskData
from nlu_toolkit.train.embedding import train_embedding
from nlu_toolkit.train.fewshot import train_fewshot, train_static_head
from nlu_toolkit.train.guard import CHECKPOINTS
from nlu_toolkit.train.outputs import finish_run
from nlu_toolkit.train.parts import (
    _save_atomically,
    _SequentialEvalTrainer,
    _token_limit,
    _with_lora,
)
from nlu_toolkit.train.prepare import _TASK_PREP, _generation_limit, _Seq2SeqPrep
from nlu_toolkit.train.progress import TrainProgress, progress_callback


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
    progress: Callable[[TrainProgress], None] | None
    mixed: str | None
    device: str
    max_length: int | None
    loss: str | None = None
    max_target_length: int = 128
    source_prefix: str | None = None
    aliases: dict[str, str] = field(default_factory=dict)
    inputs: list[Any] = field(default_factory=list)  # the data files, for the run manifest
    stopper: Any = None  # the EarlyStoppingCallback, when patience is set

    # ---- shared ------------------------------------------------------------------------------------------------

    def training_arguments(self, cls: type, *, evaluate: bool = True, rows: int | None = None, **extra: Any) -> Any:
        """The Trainer's arguments from the settings; ``evaluate=False``: no evaluation inside the Trainer
        (few-shot scores its classifier after the Trainer); ``rows``: training rows when not the data's."""
        s = self.settings
        has_eval = evaluate and self.data.eval is not None
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
            logging_steps=self.logging_steps(rows),
            report_to="none",
            disable_tqdm=True,
            use_cpu=self.device == "cpu",
            bf16=self.mixed == "bf16",
            fp16=self.mixed == "fp16",
            dataloader_num_workers=0,
            **extra,
        )

    def logging_steps(self, rows: int | None = None) -> int:
        """About 20 loss points per epoch for the curve, never fewer than one step apart."""
        s = self.settings
        steps = (rows or len(self.data.train)) / (s["batch_size"] * s["gradient_accumulation"] * s.get("processes", 1))
        if s["max_steps"]:
            steps = min(steps, s["max_steps"])
        return max(1, int(steps // 20))

    def callbacks(self) -> list[Any]:
        from transformers import EarlyStoppingCallback

        callbacks: list[Any] = [] if self.progress is None else [progress_callback(self.progress)]
        if self.settings["patience"]:
            self.stopper = EarlyStoppingCallback(early_stopping_patience=self.settings["patience"])
            callbacks.append(self.stopper)
        return callbacks

    def stopped_early(self, trainer: Any) -> bool:
        """Whether early stopping ended the run before its planned steps (not merely at its last evaluation)."""
        stopper, state = self.stopper, trainer.state
        if stopper is None or stopper.early_stopping_patience_counter < stopper.early_stopping_patience:
            return False
        return bool(state.max_steps) and state.global_step < state.max_steps

    def fit(self, trainer: Any) -> tuple[float, float | None]:
        from transformers.trainer_callback import PrinterCallback, ProgressCallback

        # The stock callbacks print log dicts to stdout and draw tqdm bars; the library reports through `progress`.
        trainer.remove_callback(PrinterCallback)
        trainer.remove_callback(ProgressCallback)
        per_batch_mean_loss(trainer)
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
        # Every process has loaded the best checkpoint before the main one saves and removes the checkpoints.
        trainer.accelerator.wait_for_everyone()
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
        """The result record, the saved model and the output folder's files (`nlu_toolkit.train.outputs`)."""
        return finish_run(self, trainer, labels, seconds, sps, save)

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
        trainer = self.trainer(_SequentialEvalTrainer, model, args, train_ds, eval_ds, prep, compute_metrics)
        return self.fit_and_save(trainer, tokenizer, labels)

    def trainer(
        self, cls: Any, model: Any, args: Any, train_ds: Any, eval_ds: Any, prep: Any, compute_metrics: Any
    ) -> Any:
        """A Trainer of class ``cls`` on the prepared data, with this run's callbacks (progress, stopping)."""
        return cls(
            model=model,
            args=args,
            train_dataset=train_ds,
            eval_dataset=eval_ds,
            data_collator=prep.collator,
            processing_class=prep.tokenizer,
            compute_metrics=compute_metrics,
            callbacks=self.callbacks(),
        )

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
                f"cannot load base model {self.base['name']!r}: {e}", "set {=model} to a transformers model folder"
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
        trainer = self.trainer(Seq2SeqTrainer, model, args, train_ds, eval_ds, prep, compute_metrics)
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
                "set {=model} to a transformers seq2seq model folder (safetensors weights)",
            ) from e

    # ---- sentence embeddings -----------------------------------------------------------------------------------

    def train_embedding(self) -> FinetuneResult:
        return train_embedding(self)

    # ---- an encoder plus a linear head: few-shot, and classifiers on static models ---------------------------

    def train_fewshot(self) -> FinetuneResult:
        return train_fewshot(self)

    def train_static_head(self) -> FinetuneResult:
        return train_static_head(self)


def per_batch_mean_loss(trainer: Any) -> None:
    """Tell the Trainer that the loss is a mean over the batch, as every head we train computes it.

    The heads we train (BERT-style classification, token classification and QA, T5/BART generation,
    sentence-transformers losses) take ``**kwargs`` in ``forward``, so transformers 5 believes they
    normalise the loss by ``num_items_in_batch`` counted over the whole step: it then skips dividing by
    ``gradient_accumulation`` and multiplies the loss by the number of processes (to undo DDP's gradient
    mean). Their losses ignore that count (a plain ``CrossEntropyLoss()`` mean), so the loss, and its
    gradients, came out multiplied by the processes (and by the accumulation steps): 1.37 instead of
    0.69 on 2 processes. With the flag off, each micro-batch's mean is divided by the accumulation steps,
    DDP averages the gradients over processes, and the logged loss is the mean over processes.
    """
    trainer.model_accepts_loss_kwargs = False
    trainer.loss_is_scaled_for_ga = False
