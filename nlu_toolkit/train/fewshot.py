"""Classifiers made of a sentence encoder plus a linear head (`nlu_toolkit.models.head`).

- `train_fewshot` (``finetune(task="fewshot")``), SetFit's recipe composed from sentence-transformers and
  scikit-learn: contrastive pairs from the few labelled texts (`nlu_toolkit.train.fewshot_pairs`), one epoch
  of ``SentenceTransformerTrainer`` with ``CosineSimilarityLoss`` on them, then a head fitted on the tuned
  encoder's vectors. The ``setfit`` library itself is not used: it saves its head with pickle (joblib) and
  its evaluation fetches the metric from the Hub (docs/design/fewshot.md).
- `train_static_head` (``finetune(task="classification", model=STATIC)``): a head on a static (Model2Vec)
  model's frozen vectors, the fastest classifier the toolkit makes.

Both save one folder: the encoder as it was (a sentence-transformers or static folder, so ``nlu embed``
still works on it), ``head.safetensors`` + ``head.json``, ``id2label``/``label2id`` in ``config.json``,
and the usual ``metrics.json``, model card and run manifest (`nlu_toolkit.train.outputs`).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import numpy as np

from nlu_toolkit.errors import TrainingDataError
from nlu_toolkit.models.head import LinearHead, save_head
from nlu_toolkit.models.quiet import quiet_sentence_transformers
from nlu_toolkit.train.args import FinetuneResult
from nlu_toolkit.train.fewshot_pairs import contrastive_pairs
from nlu_toolkit.train.head_fit import TORCH_EPOCHS, TORCH_LR, fit_head, head_metrics
from nlu_toolkit.train.parts import _save_atomically

if TYPE_CHECKING:
    from nlu_toolkit.train.driver import _Run

#: Files of a static base that are not copied: its card and records describe the base, not the classifier.
_NOT_COPIED = {"README.md", "metrics.json", "run_manifest.json", "training_curve.png"}


def train_fewshot(run: _Run) -> FinetuneResult:
    """Contrastive tuning of the encoder on pairs of the training texts, then the head; `_Run` does the rest."""
    from datasets import Dataset
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.sentence_transformer import losses

    s, train = run.settings, run.data.train
    texts, targets = list(train["text"]), _targets(train, run.data.task)
    _check_classes(targets, run.data.task)
    pairs = contrastive_pairs(
        texts,
        list(targets),
        seed=s["seed"],
        num_iterations=s.get("num_iterations"),
        pairs_per_example=s.get("pairs_per_example"),
    )
    s["pairs"] = len(pairs)
    model = SentenceTransformer(
        run.base["path"],
        device=run.device,
        trust_remote_code=run.trust_remote_code,
        model_kwargs={"use_safetensors": True},
    )
    if run.max_length:
        model.max_seq_length = run.max_length
    s["max_length"] = model.max_seq_length
    s["loss"] = "CosineSimilarityLoss"
    dataset = Dataset.from_dict(
        {"sentence1": [a for a, _, _ in pairs], "sentence2": [b for _, b, _ in pairs], "label": [y for *_, y in pairs]}
    )
    # The pairs train the encoder; the classifier is scored once, after its head is fitted (below).
    args = run.training_arguments(SentenceTransformerTrainingArguments, evaluate=False, rows=len(pairs))
    with quiet_sentence_transformers():
        trainer = SentenceTransformerTrainer(
            model=model,
            args=args,
            train_dataset=dataset,
            loss=losses.CosineSimilarityLoss(model),
            callbacks=run.callbacks(),
        )
        seconds, sps = run.fit(trainer)

        def encode(rows: list[str]) -> np.ndarray:
            return model.encode(rows, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)

        start = time.perf_counter()
        head = _fit(run, encode(texts), targets)
        seconds += time.perf_counter() - start
        _score(run, trainer.state, head, encode)
        return run.finish(
            trainer,
            head.labels,
            seconds,
            sps,
            lambda out: _save_atomically(out, lambda tmp: _save_with_head(tmp, model.save_pretrained, head)),
        )


def train_static_head(run: _Run) -> FinetuneResult:
    """A head on a static model's vectors: no encoder training, so no Trainer (its state is mimicked)."""
    from nlu_toolkit.tasks.embed import Embedder

    train = run.data.train
    targets = _targets(train, run.data.task)
    _check_classes(targets, run.data.task)
    start = time.perf_counter()
    embedder = Embedder(run.base["path"], normalize=True, device=run.device)
    s = run.settings
    # A frozen static model with a fitted head has none of the Trainer's knobs.
    for unused in ("epochs", "learning_rate", "batch_size", "warmup", "weight_decay", "gradient_accumulation"):
        s.pop(unused, None)

    def encode(rows: list[str]) -> np.ndarray:
        return embedder.encode(rows)[0]

    head = _fit(run, encode(list(train["text"])), targets)
    seconds = time.perf_counter() - start
    state = SimpleNamespace(log_history=[], global_step=0, epoch=1.0, num_train_epochs=None, max_steps=0)
    _score(run, state, head, encode)
    trainer = SimpleNamespace(state=state, is_world_process_zero=lambda: True)
    base = Path(run.base["path"])

    def copy_base(tmp: str) -> None:
        for path in base.iterdir():
            if path.is_file() and path.name not in _NOT_COPIED:
                shutil.copy2(path, Path(tmp) / path.name)
            elif path.is_dir() and not path.name.startswith("."):
                shutil.copytree(path, Path(tmp) / path.name)

    sps = len(train) / seconds if seconds > 0 else None
    return run.finish(
        trainer,
        head.labels,
        seconds,
        sps,
        lambda out: _save_atomically(out, lambda tmp: _save_with_head(tmp, copy_base, head)),
    )


def _targets(train: Any, task: str) -> np.ndarray:
    """Class ids (n,), or the multi-hot matrix (n, n_labels) for multi-label."""
    if task == "multilabel":
        return np.asarray(train["label"], dtype=np.float32)
    return np.asarray(train["label"], dtype=np.int64)


def _check_classes(targets: np.ndarray, task: str) -> None:
    """A head needs two kinds of example to tell apart: refuse data of one class before training."""
    distinct = {tuple(row) for row in targets.tolist()} if task == "multilabel" else set(targets.tolist())
    if len(distinct) < 2:
        raise TrainingDataError(
            "every training row has the same label, so there is nothing to tell apart",
            "give examples of at least two labels in {=train}",
        )


def _fit(run: _Run, vectors: np.ndarray, targets: np.ndarray) -> LinearHead:
    s = run.settings
    head = fit_head(
        vectors,
        targets,
        list(run.data.labels),
        multi_label=run.data.task == "multilabel",
        kind=s.get("head") or "logreg",
        seed=s["seed"],
    )
    head.extra = {"trained_by": "nlu-toolkit", "task": run.task, "base_model": run.base["name"]}
    if head.kind == "torch":
        s["head_epochs"], s["head_learning_rate"] = TORCH_EPOCHS, TORCH_LR
    return head


def _score(run: _Run, state: Any, head: LinearHead, encode: Any) -> None:
    """Score the classifier on the eval rows, logged as the Trainer logs an epoch's evaluation."""
    if run.data.eval is None:
        return
    found = head_metrics(head, encode(list(run.data.eval["text"])), _targets(run.data.eval, run.data.task))
    epoch = float(getattr(state, "epoch", None) or 1.0)
    state.log_history.append({"epoch": epoch, "step": state.global_step, **{f"eval_{k}": v for k, v in found.items()}})


def _save_with_head(tmp: str, write_encoder: Any, head: LinearHead) -> None:
    """The encoder's files, the head, and the label names in ``config.json`` (as every classifier folder has)."""
    write_encoder(tmp)
    save_head(tmp, head)
    config_path = Path(tmp) / "config.json"
    config = json.loads(config_path.read_text(encoding="utf-8")) if config_path.is_file() else {}
    config["id2label"] = {str(i): label for i, label in enumerate(head.labels)}
    config["label2id"] = {label: i for i, label in enumerate(head.labels)}
    config_path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
