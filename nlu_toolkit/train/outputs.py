"""The ending of a training run: the result record, then the output folder's files beside the model.

`finish_run` is the one ending of every task (`_Run.fit_and_save` for the transformers-model tasks,
`nlu_toolkit.train.embedding` for sentence embeddings): it builds the `FinetuneResult` from the Trainer's
state, and on the main process saves the model (through the caller's ``save``) and writes the run manifest,
``metrics.json``, the training curve and the model card. What those files say is `nlu_toolkit.train.report`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nlu_toolkit.io.run_manifest import MANIFEST_FILE, build_manifest, write_manifest
from nlu_toolkit.io.writers import atomic_output
from nlu_toolkit.train.args import CARD_FILE, CURVE_FILE, METRICS_FILE, FinetuneResult
from nlu_toolkit.train.parts import _best_row
from nlu_toolkit.train.report import epoch_history, model_card, plot_training_curve, step_losses, write_json

if TYPE_CHECKING:
    from nlu_toolkit.train.driver import _Run


def finish_run(
    run: _Run, trainer: Any, labels: list[str], seconds: float, sps: float | None, save: Callable[[Path], Any]
) -> FinetuneResult:
    """The run's `FinetuneResult`; on the main process also the saved model (``save(out)``) and its files."""
    history = epoch_history(trainer.state.log_history)
    for row in history:  # sentence-transformers' long metric names -> ours
        for long, short in getattr(run, "aliases", {}).items():
            if long in row:
                row[short] = row.pop(long)
    metric = run.settings["metric"]
    best = _best_row(history, metric)
    result = FinetuneResult(
        task=run.task,
        output_dir=run.out,
        base_model=run.base["name"],
        labels=labels,
        metrics={k: v for k, v in (best or {}).items() if k not in ("epoch", "step")},
        history=history,
        metric=metric if run.data.eval is not None else None,
        best_epoch=(best or {}).get("epoch"),
        train_seconds=seconds,
        train_samples_per_second=sps,
        train_rows=len(run.data.train),
        eval_rows=len(run.data.eval) if run.data.eval is not None else 0,
        steps=int(trainer.state.global_step),
        device=run.device,
        train_precision=run.mixed or "fp32",
        stopped_early=run.stopped_early(trainer),
        planned_epochs=_planned_epochs(trainer.state),
    )
    if result.stopped_early:
        result.stopped_at_epoch = round(float(trainer.state.epoch or 0), 4)
    if not trainer.is_world_process_zero():
        return result
    save(run.out)
    files = {"model": run.out}
    result.manifest = build_manifest(
        "finetune",
        settings={"task": run.task, **run.settings},
        seed=run.settings.get("seed"),
        model=run.base,
        inputs=run.inputs,
        outputs=[run.out],
    )
    files["manifest"] = write_manifest(result.manifest, run.out / MANIFEST_FILE)
    files["metrics"] = write_json(
        {
            "task": run.task,
            "metric": result.metric,
            "best_epoch": result.best_epoch,
            "stopped_early": result.stopped_early,
            "stopped_at_epoch": result.stopped_at_epoch,
            "planned_epochs": result.planned_epochs,
            "final": result.metrics,
            "epochs": history,
            "steps": result.steps,
            "train_seconds": round(seconds, 2),
            "train_samples_per_second": sps,
            "settings": run.settings,
            "data": run.data.info,
            "manifest": result.manifest,
        },
        run.out / METRICS_FILE,
    )
    files["curve"] = plot_training_curve(
        history, step_losses(trainer.state.log_history), result.metric, run.out / CURVE_FILE
    )
    card = model_card(
        task=run.task,
        base_model=run.base["name"],
        data=run.data.info,
        labels=labels,
        settings=run.settings,
        history=history,
        final=result.metrics,
        metric=result.metric,
        train_seconds=seconds,
        device=run.device,
    )
    with atomic_output(run.out / CARD_FILE) as f:
        f.write(card)
    files["card"] = run.out / CARD_FILE
    result.files = files
    return result


def _planned_epochs(state: Any) -> float | None:
    """The epochs the run was set to take (``max_steps`` included), from the Trainer's state."""
    epochs = getattr(state, "num_train_epochs", None)
    return float(epochs) if epochs else None
