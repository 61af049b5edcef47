"""What a training run leaves beside the model: per-epoch history, metrics.json, a curve PNG, a model card.

Pure functions over the Trainer's ``log_history`` (a list of dicts), so they
are tested without training anything.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from nlu_toolkit.io.numbers import show_value
from nlu_toolkit.io.writers import atomic_output

# Keys of a Trainer eval log that are bookkeeping, not metrics.
_NOT_METRICS = {"epoch", "step", "eval_runtime", "eval_samples_per_second", "eval_steps_per_second"}


def epoch_history(log_history: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per epoch: ``{"epoch", "step", "train_loss", "eval_loss", eval metrics...}``.

    ``train_loss`` is the mean of the step losses logged during that epoch (the
    Trainer logs a running loss every ``logging_steps``); eval keys lose their
    ``eval_`` prefix. Epochs without an evaluation still get a row.
    """
    rows: dict[int, dict[str, Any]] = {}
    losses: dict[int, list[float]] = {}
    for entry in log_history:
        epoch = entry.get("epoch")
        if epoch is None:
            continue
        # An epoch's logs carry epoch values in (e-1, e]; the eval at its end carries e exactly.
        index = max(1, int(-(-float(epoch) // 1)))
        if "loss" in entry:
            losses.setdefault(index, []).append(float(entry["loss"]))
        if any(k.startswith("eval_") for k in entry):
            row = rows.setdefault(index, {"epoch": round(float(epoch), 4), "step": entry.get("step")})
            for key, value in entry.items():
                if key.startswith("eval_") and key not in _NOT_METRICS and isinstance(value, (int, float)):
                    row[key if key == "eval_loss" else key[len("eval_") :]] = float(value)
    for index, values in losses.items():
        rows.setdefault(index, {"epoch": float(index)})["train_loss"] = sum(values) / len(values)
    return [rows[i] for i in sorted(rows)]


def step_losses(log_history: Sequence[Mapping[str, Any]]) -> list[tuple[float, float]]:
    """``(epoch, loss)`` of every logged training step, for the curve."""
    return [(float(e["epoch"]), float(e["loss"])) for e in log_history if "loss" in e and "epoch" in e]


def write_json(data: Any, path: str | os.PathLike[str]) -> Path:
    with atomic_output(path) as f:
        json.dump(data, f, indent=2, ensure_ascii=False, default=str)
        f.write("\n")
    return Path(path)


def plot_training_curve(
    history: Sequence[Mapping[str, Any]],
    steps: Sequence[tuple[float, float]],
    metric: str | None,
    path: str | os.PathLike[str],
) -> Path:
    """Training loss per logged step, eval loss and ``metric`` per epoch (right axis), as a PNG.

    ``history`` comes from `epoch_history`, ``steps`` from `step_losses`.

    Uses a bare matplotlib ``Figure`` (Agg canvas) so no global pyplot state or
    display backend is touched.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    if steps:
        ax.plot([s[0] for s in steps], [s[1] for s in steps], color="tab:blue", alpha=0.6, label="train loss")
    evals = [r for r in history if "eval_loss" in r]
    if evals:
        ax.plot(
            [r["epoch"] for r in evals], [r["eval_loss"] for r in evals], "o-", color="tab:orange", label="eval loss"
        )
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    handles, labels = ax.get_legend_handles_labels()
    scored = [r for r in history if metric and metric in r]
    if scored:
        ax2 = ax.twinx()
        ax2.plot([r["epoch"] for r in scored], [r[metric] for r in scored], "s--", color="tab:green", label=metric)
        ax2.set_ylabel(metric)
        h2, l2 = ax2.get_legend_handles_labels()
        handles, labels = handles + h2, labels + l2
    if handles:
        ax.legend(handles, labels, loc="best", fontsize="small")
    ax.set_title("training curve")
    fig.tight_layout()
    with atomic_output(path, "wb") as f:
        fig.savefig(f, format="png")
    return Path(path)


def model_card(
    *,
    task: str,
    base_model: str,
    data: Mapping[str, Any],
    labels: Sequence[str],
    settings: Mapping[str, Any],
    history: Sequence[Mapping[str, Any]],
    final: Mapping[str, Any],
    metric: str | None,
    train_seconds: float,
    device: str,
) -> str:
    """A README.md for the saved model: what it is, how it was trained, how it scored, how to use it."""
    use = {
        "classification": 'nlu classify --model DIR "some text"',
        "multilabel": 'nlu classify --model DIR --multi-label "some text"',
        "ner": 'nlu ner --model DIR "Some text about Paris"',
        "qa": 'nlu qa --model DIR --question "Who?" --context "..."',
        "embedding": 'nlu embed --model DIR "some text"',
        "fewshot": 'nlu classify --model DIR "some text"\nnlu embed --model DIR "some text"   # the tuned encoder',
        "seq2seq": 'nlu summarize --model DIR "a longer text ..."\nnlu translate --model DIR "some text"',
    }[task]
    lines = [
        "---",
        "library_name: " + ("sentence-transformers" if task in ("embedding", "fewshot") else "transformers"),
        f"base_model: {base_model}",
        "tags: [nlu-toolkit, " + task + "]",
        "---",
        "",
        f"# {task} model fine-tuned with nlu-toolkit",
        "",
        f"Base model: `{base_model}`. Trained on {device} in {show_value(train_seconds, 'train_seconds')} s.",
        "",
        "## Use",
        "",
        "```bash",
        use,
        "```",
        "",
        "## Data",
        "",
    ]
    for key in ("train", "eval", "format", "train_rows", "eval_rows", "pair_kind", "score_scale"):
        if data.get(key) is not None:
            lines.append(f"- {key.replace('_', ' ')}: {data[key]}")
    if data.get("columns"):
        lines.append(f"- columns: {data['columns']}")
    if labels:
        lines.append(f"- labels ({len(labels)}): {', '.join(labels)}")
    for warning in data.get("warnings") or []:
        lines.append(f"- warning: {warning}")
    lines += ["", "## Settings", ""]
    # Settings were chosen, not measured: shown exactly (learning rate 5e-05, epochs 3).
    lines += [
        f"- {k.replace('_', ' ')}: {show_value(v, k, setting=True)}" for k, v in settings.items() if v is not None
    ]
    lines += ["", "## Scores", ""]
    if final:
        lines.append("Final (best epoch" + (f" by {metric}" if metric else "") + "):")
        lines.append("")
        lines += [f"- {k}: {show_value(v, k)}" for k, v in final.items() if isinstance(v, (int, float))]
        lines.append("")
    if history:
        keys = sorted({k for row in history for k in row if k not in ("epoch", "step")})
        lines.append("| epoch | " + " | ".join(keys) + " |")
        lines.append("|---" * (len(keys) + 1) + "|")
        for row in history:
            cells = [show_value(row.get("epoch"), "epoch"), *(show_value(row.get(k), k) for k in keys)]
            lines.append("| " + " | ".join(cells) + " |")
    else:
        lines.append("No evaluation data was given.")
    lines += ["", "Files: `metrics.json` (per epoch), `training_curve.png`.", ""]
    return "\n".join(lines)


def early_stopping_note(
    metric: str | None, patience: int | None, stopped_at: float | None, planned: float | None, best: float | None
) -> str:
    """The line saying early stopping ended a run, e.g. ``early stopping: no improvement in eval_loss for
    2 evaluations; stopped at epoch 3 of 10, best epoch 1`` (the CLI prints it; the library returns values)."""

    def epoch(value: float | None) -> str:
        if value is None:
            return "?"
        return str(int(value)) if float(value).is_integer() else f"{value:.2f}"

    times = "evaluation" if patience == 1 else "evaluations"
    line = f"early stopping: no improvement in {metric} for {patience} {times}; stopped at epoch {epoch(stopped_at)}"
    if planned:
        line += f" of {epoch(planned)}"
    if best is not None:
        line += f", best epoch {epoch(best)}"
    return line
