"""Single-label and multi-label classification scores from label ids or 0/1 indicator matrices."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from nlu_toolkit.core.metrics.common import _prf, check_labels
from nlu_toolkit.errors import UsageError


def _label_ids(x: Sequence[int], name: str, n_labels: int) -> np.ndarray:
    a = np.asarray(x)
    if a.ndim != 1:
        raise UsageError(f"{name} must be a 1-D sequence of label ids, got shape {a.shape}", "pass one id per example")
    if len(a) == 0:  # np.asarray([]) is float64: not a dtype error
        return np.zeros(0, dtype=np.int64)
    if a.dtype.kind == "b" or a.dtype.kind not in "iu":
        raise UsageError(f"{name} must hold integer label ids, got dtype {a.dtype}", "map label names to ids first")
    if len(a) and (a.min() < 0 or a.max() >= n_labels):
        bad = int(a[(a < 0) | (a >= n_labels)][0])
        raise UsageError(
            f"{name} holds label id {bad}, outside 0..{n_labels - 1}", f"there are {n_labels} labels; ids index them"
        )
    return a.astype(np.int64, copy=False)


def _confusion(y_true: np.ndarray, y_pred: np.ndarray, n_labels: int) -> np.ndarray:
    """``(L, L)`` counts, rows = true, columns = predicted (scikit-learn's layout)."""
    return np.bincount(y_true * n_labels + y_pred, minlength=n_labels * n_labels).reshape(n_labels, n_labels)


def _mcc(confusion: np.ndarray) -> float:
    """Multiclass Matthews correlation (Gorodkin's R_K) from a confusion matrix, as scikit-learn.

    Computed in Python integers: ``n**2 * n**2`` overflows int64 from about 55,000 examples.
    """
    t_sum = [int(v) for v in confusion.sum(axis=1)]
    p_sum = [int(v) for v in confusion.sum(axis=0)]
    n = sum(t_sum)
    correct = int(np.trace(confusion))
    cov_tp = correct * n - sum(t * p for t, p in zip(t_sum, p_sum, strict=True))
    cov_pp = n * n - sum(p * p for p in p_sum)
    cov_tt = n * n - sum(t * t for t in t_sum)
    if cov_pp == 0 or cov_tt == 0:  # one class only, in truth or prediction: scikit-learn returns 0
        return 0.0
    return float(cov_tp / math.sqrt(cov_tt * cov_pp))


def classification_metrics(y_true: Sequence[int], y_pred: Sequence[int], labels: list[str]) -> dict:
    """Single-label classification scores.

    Args:
        y_true, y_pred: ``(n,)`` integer label ids, each indexing ``labels``.
        labels: the ``L`` label names, in id order.

    Returns:
        ``{"accuracy", "macro_f1", "weighted_f1", "mcc", "n", "labels",
        "per_class": {label: {"precision", "recall", "f1", "support"}},
        "confusion"}``; ``confusion`` is an ``L x L`` list of lists, rows = true
        label, columns = predicted, both in ``labels`` order.

    Every label appears in ``per_class`` and ``confusion``, including labels
    absent from both inputs (all zeros); those count as F1 0 in ``macro_f1``,
    as scikit-learn with ``labels=range(L), zero_division=0``.
    ``weighted_f1`` weights by true support.
    """
    labels = check_labels(labels)
    n_labels = len(labels)
    t = _label_ids(y_true, "y_true", n_labels)
    p = _label_ids(y_pred, "y_pred", n_labels)
    if len(t) != len(p):
        raise UsageError(f"y_true has {len(t)} items but y_pred has {len(p)}", "pass one prediction per example")
    if len(t) == 0:
        raise UsageError("no examples to score", "y_true and y_pred are empty")
    cm = _confusion(t, p, n_labels)
    tp = np.diag(cm)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    per_class: dict[str, dict[str, Any]] = {}
    f1s = []
    for i, label in enumerate(labels):
        prec, rec, f1 = _prf(int(tp[i]), int(predicted[i] - tp[i]), int(support[i] - tp[i]))
        per_class[label] = {"precision": prec, "recall": rec, "f1": f1, "support": int(support[i])}
        f1s.append(f1)
    n = len(t)
    return {
        "accuracy": float(tp.sum() / n),
        "macro_f1": float(np.mean(f1s)),
        "weighted_f1": float(np.dot(f1s, support) / n),
        "mcc": _mcc(cm),
        "n": n,
        "labels": labels,
        "per_class": per_class,
        "confusion": cm.tolist(),
    }


def _binary_matrix(x: object, name: str, n_labels: int) -> np.ndarray:
    a = np.asarray(x)
    if a.ndim != 2 or a.shape[1] != n_labels:
        raise UsageError(
            f"{name} must be an (n, {n_labels}) 0/1 matrix, got shape {a.shape}", "one column per label, in order"
        )
    if a.size and not np.isin(a, (0, 1)).all():
        raise UsageError(f"{name} must hold only 0 and 1", "threshold the scores into 0/1 predictions first")
    return a.astype(bool)


def multilabel_metrics(y_true: object, y_pred: object, labels: list[str]) -> dict:
    """Multi-label classification scores.

    Args:
        y_true, y_pred: ``(n, L)`` 0/1 (or bool) indicator matrices.
        labels: the ``L`` label names, in column order.

    Returns:
        ``{"accuracy", "micro_f1", "macro_f1", "hamming_loss", "n", "labels",
        "per_class": {label: {"precision", "recall", "f1", "support"}}}``.
        ``accuracy`` is subset accuracy (a row counts only if every label is
        right); ``hamming_loss`` the fraction of wrong cells. Micro F1 pools the
        counts of all labels; macro F1 averages the per-label F1 of all ``L``
        labels, as scikit-learn with ``zero_division=0``.
    """
    labels = check_labels(labels)
    t = _binary_matrix(y_true, "y_true", len(labels))
    p = _binary_matrix(y_pred, "y_pred", len(labels))
    if t.shape != p.shape:
        raise UsageError(f"y_true has shape {t.shape} but y_pred has {p.shape}", "pass one prediction row per example")
    n = len(t)
    if n == 0:
        raise UsageError("no examples to score", "y_true and y_pred are empty")
    tp = (t & p).sum(axis=0)
    fp = (~t & p).sum(axis=0)
    fn = (t & ~p).sum(axis=0)
    per_class: dict[str, dict[str, Any]] = {}
    f1s = []
    for i, label in enumerate(labels):
        prec, rec, f1 = _prf(int(tp[i]), int(fp[i]), int(fn[i]))
        per_class[label] = {"precision": prec, "recall": rec, "f1": f1, "support": int(tp[i] + fn[i])}
        f1s.append(f1)
    return {
        "accuracy": float((t == p).all(axis=1).mean()),
        "micro_f1": _prf(int(tp.sum()), int(fp.sum()), int(fn.sum()))[2],
        "macro_f1": float(np.mean(f1s)),
        "hamming_loss": float((t != p).mean()),
        "n": n,
        "labels": labels,
        "per_class": per_class,
    }
