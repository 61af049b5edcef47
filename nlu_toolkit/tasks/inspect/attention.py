"""Attention maps: layer and head checks, averaging the heads, and drawing the attention heatmap."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from nlu_toolkit.errors import UsageError

#: Image formats an ``attention=FILE`` heatmap can be written in, by the file's suffix.
PLOT_FORMATS = ("png", "svg", "pdf")


def check_index(value: int | None, count: int, what: str) -> int:
    """``value`` as an index into ``count`` layers or heads (negative counts from the end; None is the last).

    ``what`` is ``layer`` or ``head``: the parameter the error names.

    Raises:
        UsageError: naming the valid range.
    """
    if value is None:
        return count - 1
    if not -count <= value < count:
        raise UsageError(
            f"{{={what}}} {value} is out of range: this model has {count} {what}s",
            f"use 0 to {count - 1}, or -1 to -{count} from the end",
        )
    return value % count


def head_matrix(attention: np.ndarray, head: int | None = None) -> np.ndarray:
    """One layer's attention ``(heads, n, n)`` -> ``(n, n)``: head ``head``, or the mean of all heads."""
    attention = np.asarray(attention)
    if head is None:
        return attention.mean(axis=0)
    return attention[check_index(head, attention.shape[0], "head")]


def plot_format(path: str | os.PathLike[str]) -> str:
    """The image format of ``path`` from its suffix (png, svg or pdf)."""
    fmt = Path(path).suffix.lower().lstrip(".")
    if fmt not in PLOT_FORMATS:
        raise UsageError(
            f"cannot draw a heatmap to {str(path)!r}",
            f"give a file name ending in {', '.join('.' + f for f in PLOT_FORMATS)}",
        )
    return fmt


def draw_heatmap(
    matrix: np.ndarray, tokens: Sequence[str], path: str | os.PathLike[str], *, title: str, fmt: str = "png"
) -> Path:
    """An ``(n, n)`` matrix as a labelled heatmap, on a bare matplotlib ``Figure`` (no pyplot state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from nlu_toolkit.io.writers import atomic_output

    n = len(tokens)
    side = float(min(max(4.0, 0.3 * n + 2.0), 40.0))
    fig = Figure(figsize=(side + 1.0, side), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    image = ax.imshow(matrix, cmap="viridis", vmin=0.0, aspect="equal", interpolation="nearest")
    fontsize = 9 if n <= 40 else 7 if n <= 100 else 5
    ax.set_xticks(range(n))
    ax.set_yticks(range(n))
    ax.set_xticklabels(tokens, rotation=90, fontsize=fontsize)
    ax.set_yticklabels(tokens, fontsize=fontsize)
    ax.set_xlabel("attended to (key)")
    ax.set_ylabel("attending (query)")
    ax.set_title(title, fontsize=10)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    with atomic_output(path, "wb") as f:
        fig.savefig(f, format=fmt)
    return Path(path)
