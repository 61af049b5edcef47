"""Few-shot training sets: ``sample_per_class`` rows of each class, drawn reproducibly from a larger file.

The draw is a per-class permutation seeded by ``seed``, of which the first ``per_class`` rows are kept, so
for one seed the 8-per-class set is part of the 16-per-class set, and so on: the points of a learning curve
(8, 16, 32, 64 per class) differ only by the rows added. A class with fewer rows than asked is refused
rather than taken whole: a point labelled "8 per class" must hold 8 of each, or the curve lies.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nlu_toolkit.errors import TrainingDataError, UsageError

#: Tasks whose rows carry one class each (multi-label rows belong to several classes: no per-class draw).
SAMPLED_TASKS = ("classification",)


def check_sample_per_class(task: str, per_class: int | None) -> None:
    """Refuse a count below 1, or a task without one class per row."""
    if per_class is None:
        return
    if isinstance(per_class, bool) or not isinstance(per_class, int) or per_class < 1:
        raise UsageError(
            f"{{=sample_per_class}} must be a whole number of at least 1, got {per_class!r}",
            "e.g. {=sample_per_class} 8 draws 8 training rows of each class",
        )
    if task not in SAMPLED_TASKS:
        raise UsageError(
            f"{{=sample_per_class}} works for task {', '.join(SAMPLED_TASKS)}, not {task}",
            "leave out {=sample_per_class}, or sample the file yourself",
        )


def draw_per_class(
    label_ids: Sequence[int], labels: Sequence[str], per_class: int, seed: int, path: str | Path
) -> list[int]:
    """Indices (sorted) of ``per_class`` rows of each class, the same for the same ``seed``.

    Raises:
        TrainingDataError: a class has fewer than ``per_class`` rows (all such classes are named).
    """
    rows: dict[int, list[int]] = {i: [] for i in range(len(labels))}
    for index, label in enumerate(label_ids):
        rows[int(label)].append(index)
    short = {labels[i]: len(found) for i, found in rows.items() if len(found) < per_class}
    if short:
        counts = ", ".join(f"{name!r} has {n}" for name, n in sorted(short.items(), key=lambda kv: kv[1]))
        raise TrainingDataError(
            f"{path}: too few rows to draw {per_class} per class: {counts}",
            f"lower {{=sample_per_class}} to at most {min(short.values())}, or add rows of those classes",
        )
    drawn: list[int] = []
    for i, found in rows.items():
        # One generator per class, seeded by the seed and the class name: adding a class to the file
        # does not change the rows drawn for the others.
        rng = random.Random(f"{seed}:{labels[i]}")
        drawn += rng.sample(found, len(found))[:per_class]
    return sorted(drawn)


def sample_record(per_class: int, seed: int, rows: Sequence[int], from_rows: int) -> dict[str, Any]:
    """What the draw was, for metrics.json: ``rows`` are 1-based data row numbers in the training file."""
    return {"per_class": per_class, "seed": seed, "from_rows": from_rows, "rows": [r + 1 for r in rows]}
