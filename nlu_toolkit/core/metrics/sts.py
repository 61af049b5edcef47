"""Spearman and Pearson correlation for semantic textual similarity."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np

from nlu_toolkit.errors import UsageError


def _float_vector(x: Sequence[float], name: str) -> np.ndarray:
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise UsageError(f"{name} must be a sequence of numbers", "pass one similarity score per pair") from e
    if a.ndim != 1:
        raise UsageError(f"{name} must be 1-D, got shape {a.shape}", "pass one similarity score per pair")
    if not np.isfinite(a).all():
        raise UsageError(f"{name} contains NaN or infinite values", "check the model outputs and the gold file")
    return a


def _finite_or_none(x: float) -> float | None:
    """NaN (an undefined correlation) as None, which JSON can write."""
    return float(x) if math.isfinite(x) else None


def sts_metrics(gold: Sequence[float], predicted: Sequence[float]) -> dict:
    """Spearman and Pearson correlation between gold and predicted similarity scores.

    Args:
        gold, predicted: ``(n,)`` scores, ``n >= 2``; the scales need not match
            (gold 0-5 against cosine is fine: both correlations are scale-free).

    Returns:
        ``{"spearman", "pearson", "n"}``; a correlation is ``None`` when one
        side is constant (it is undefined; scipy would give NaN).
    """
    from scipy import stats

    g, p = _float_vector(gold, "gold"), _float_vector(predicted, "predicted")
    if len(g) != len(p):
        raise UsageError(f"gold has {len(g)} scores but predicted has {len(p)}", "pass one prediction per pair")
    if len(g) < 2:
        raise UsageError(f"correlation needs at least 2 pairs, got {len(g)}", "score more sentence pairs")
    if np.ptp(g) == 0 or np.ptp(p) == 0:
        return {"spearman": None, "pearson": None, "n": len(g)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy's near-constant-input warnings: the value is still returned
        spearman = stats.spearmanr(g, p)[0]
        pearson = stats.pearsonr(g, p)[0]
    return {"spearman": _finite_or_none(spearman), "pearson": _finite_or_none(pearson), "n": len(g)}
