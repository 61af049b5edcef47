"""Hidden-state vectors: mean pooling of a word's sub-tokens, cosine similarity, and saving as .npy."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def mean_pool(vectors: np.ndarray, indices: Sequence[int]) -> np.ndarray:
    """The mean of the rows ``indices`` of ``vectors`` (a word made of several sub-tokens)."""
    if len(indices) == 0:
        raise ValueError("mean_pool needs at least one row")
    return np.asarray(vectors, dtype=np.float64)[list(indices)].mean(axis=0)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two vectors; 0.0 when either is all zeros."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b / norm) if norm > 0 else 0.0


def save_vectors(matrix: np.ndarray, path: str | os.PathLike[str]) -> Path:
    """Save an ``(n_tokens, hidden)`` array as .npy, atomically."""
    from nlu_toolkit.io.writers import atomic_output

    with atomic_output(path, "wb") as f:
        np.save(f, np.asarray(matrix, dtype=np.float32))
    return Path(path)
