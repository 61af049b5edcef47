"""Pooling of per-window scores back to one row per text."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    z = x - x.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def sigmoid(x: np.ndarray) -> np.ndarray:
    # exp(-logaddexp(0, -x)) == 1 / (1 + exp(-x)), without overflow warnings on large |x|.
    return np.exp(-np.logaddexp(0, -np.asarray(x)))


def pool_windows(
    scores: np.ndarray, sample_of: Sequence[int], n_samples: int, weights: Sequence[float] | None = None
) -> np.ndarray:
    """Weighted mean of window rows per sample.

    Args:
        scores: ``(n_windows, k)`` per-window scores.
        sample_of: ``(n_windows,)`` index of the sample each window came from.
        n_samples: number of samples; every sample must own at least one window.
        weights: ``(n_windows,)`` window weights, e.g. token counts (default: equal).

    Returns:
        ``(n_samples, k)`` pooled scores.
    """
    scores = np.asarray(scores, dtype=np.float64)
    idx = np.asarray(sample_of, dtype=np.int64)
    w = np.ones(len(idx)) if weights is None else np.asarray(weights, dtype=np.float64)
    total = np.zeros((n_samples, scores.shape[1]))
    np.add.at(total, idx, scores * w[:, None])
    norm = np.zeros(n_samples)
    np.add.at(norm, idx, w)
    if np.any(norm == 0):
        raise ValueError("every sample needs at least one window")
    return total / norm[:, None]
