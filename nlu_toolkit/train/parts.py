"""Pieces the fine-tuning driver assembles: the eval-order Trainer, LoRA adapters, the token limit,
the best epoch, and the atomic save of the model files."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nlu_toolkit.errors import UsageError


class _SequentialEvalTrainer:
    """Placeholder replaced on first use by a `transformers.Trainer` subclass (keeps this module import-light)."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        return _sequential_eval_trainer_class()(*args, **kwargs)


def _sequential_eval_trainer_class() -> type:
    import torch
    from transformers import Trainer

    class SequentialEvalTrainer(Trainer):
        """A Trainer that evaluates in dataset order.

        With ``group_by_length``, transformers 5 also groups eval batches by length (in a distributed run
        too), which reorders predictions; QA and NER need them in feature order to map windows back to
        questions and tokens. Across processes, accelerate deals the sequential batches out in turn and
        ``gather_for_metrics`` puts them back in order (dropping the padding of the last round).
        """

        def _get_eval_sampler(self, eval_dataset: Any) -> Any:
            return torch.utils.data.SequentialSampler(eval_dataset)

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
        raise UsageError(f"{{=lora}} cannot adapt this model: {e}", "drop {=lora}") from e
