"""Helpers shared by the metric families: ratios with zero_division=0, P/R/F1 from counts, label checks."""

from __future__ import annotations

from collections.abc import Sequence

from nlu_toolkit.errors import UsageError


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den else 0.0


def _prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    """Precision, recall and F1 from counts, each 0 when undefined.

    F1 as ``2tp / (2tp + fp + fn)``: equal to the harmonic mean of precision and
    recall, and defined (0) when both are 0, as scikit-learn >= 1.3.
    """
    return _ratio(tp, tp + fp), _ratio(tp, tp + fn), _ratio(2 * tp, 2 * tp + fp + fn)


def check_labels(labels: Sequence[str]) -> list[str]:
    labels = list(labels)
    if not labels:
        raise UsageError("labels is empty", "pass the label names, in label-id order")
    if len(set(labels)) != len(labels):
        dupes = sorted({str(x) for x in labels if labels.count(x) > 1})
        raise UsageError(f"duplicate label names: {', '.join(dupes)}", "label names must be unique")
    return labels
