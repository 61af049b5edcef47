"""Training progress as values: `TrainProgress`, reported to a callback by a Trainer callback.

The library draws nothing: `finetune(progress=...)` calls the given function with a `TrainProgress`
at the start, after every optimiser step, at each loss log and evaluation, and at the end. The CLI
turns these into its bar (`nlu_toolkit.cli.finetune`); a notebook or a server can do what it likes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

#: What happened: the run started, a step ended, the loss was logged, an evaluation finished, the run ended.
Phase = Literal["start", "step", "log", "evaluate", "end"]


@dataclass(frozen=True)
class TrainProgress:
    """Where a training run stands.

    Attributes:
        phase: ``start``, ``step`` (an optimiser step ended), ``log`` (``loss`` is the latest training
            loss), ``evaluate`` (``metrics`` are the evaluation's figures, without the ``eval_``
            prefix) or ``end``.
        step: optimiser steps done (a resumed run starts at its checkpoint's step).
        total_steps: the steps the run will take.
        epoch: epochs done, fractional (e.g. 1.5); None before the first step.
        loss: the training loss (``log``), else None.
        metrics: the evaluation figures (``evaluate``), else empty.
    """

    phase: Phase
    step: int
    total_steps: int
    epoch: float | None = None
    loss: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)


def progress_callback(report: Callable[[TrainProgress], None]) -> Any:
    """A transformers ``TrainerCallback`` passing the run's progress to ``report`` (main process only)."""
    from transformers import TrainerCallback

    class Reporter(TrainerCallback):
        def _send(self, state: Any, phase: Phase, **values: Any) -> None:
            # Under `accelerate launch`, every process trains; one reports.
            if state.is_world_process_zero:
                report(TrainProgress(phase, int(state.global_step), int(state.max_steps), **values))

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self._send(state, "start", epoch=state.epoch)

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self._send(state, "step", epoch=state.epoch)

        def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kwargs: Any) -> None:
            if not logs:
                return
            epoch = logs.get("epoch", state.epoch)
            if "loss" in logs:
                self._send(state, "log", epoch=epoch, loss=float(logs["loss"]))
            scores = {k[5:]: v for k, v in logs.items() if k.startswith("eval_") and isinstance(v, float)}
            if scores:
                self._send(state, "evaluate", epoch=epoch, metrics=scores)

        def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self._send(state, "end", epoch=state.epoch)

    return Reporter()
