"""Charts written as PNG files: the confusion matrix (``nlu evaluate --confusion-png``) and the cluster
scatter (``nlu cluster --plot``).

One plotting module, in ``io`` (outputs), so the pure functions in ``core`` never import matplotlib or
a writer. matplotlib's object API with the Agg canvas: no GUI backend, no global pyplot state. Every
chart is written atomically (a temp file beside the target, then renamed).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from nlu_toolkit.core.metrics import check_labels
from nlu_toolkit.errors import UsageError
from nlu_toolkit.io.writers import atomic_output


def plot_confusion_matrix(confusion: list[list[int]], labels: list[str], path: str | os.PathLike[str]) -> Path:
    """Write a PNG heat map of an ``L x L`` confusion matrix (rows = true, columns = predicted).

    Cells are coloured by the row-normalised count (the share of each true
    class predicted as each column, so small classes stay readable) and show
    the raw count. Uses matplotlib's object API with the Agg canvas, so no GUI
    backend or global pyplot state is touched. Written atomically: a temp file
    in the same folder, then renamed over ``path``.

    Returns:
        ``path`` as a `Path`.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    labels = check_labels(labels)
    cm = np.asarray(confusion)
    n = len(labels)
    if cm.shape != (n, n):
        raise UsageError(f"confusion must be {n} x {n} for {n} labels, got shape {cm.shape}", "one row per label")
    if cm.dtype.kind not in "iu" or (cm < 0).any():
        raise UsageError("confusion must hold non-negative integer counts", "pass classification_metrics' confusion")
    rows = cm.sum(axis=1, keepdims=True)
    share = np.divide(cm, rows, out=np.zeros(cm.shape, dtype=np.float64), where=rows > 0)

    side = min(2.0 + 0.6 * n, 30.0)  # about 0.6 inch per class, capped so huge label sets still render
    fig = Figure(figsize=(side + 1.5, side), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of true class")
    ax.set_xticks(range(n), labels=labels, rotation=45, ha="right", rotation_mode="anchor")
    ax.set_yticks(range(n), labels=labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if n <= 40:  # beyond that the numbers no longer fit in their cells
        font = 10 if n <= 10 else max(5, 10 - (n - 10) // 6)
        for i in range(n):
            for j in range(n):
                colour = "white" if share[i, j] > 0.5 else "black"  # readable on dark and light cells
                ax.text(j, i, str(int(cm[i, j])), ha="center", va="center", color=colour, fontsize=font)
    fig.tight_layout()
    target = Path(path)
    with atomic_output(target, "wb") as f:
        fig.savefig(f, format="png")
    return target


def plot_clusters(
    coords: np.ndarray,
    labels: Sequence[int] | np.ndarray,
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
) -> None:
    """Write a PNG scatter of ``(n, 2)`` ``coords`` coloured by cluster, noise in grey.

    Written atomically (temp file, then rename). Uses matplotlib's object API
    with the Agg canvas, so no GUI backend or global pyplot state is touched.
    """
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    coords = np.asarray(coords)
    labels = np.asarray(labels)
    if coords.ndim != 2 or coords.shape[1] != 2 or len(coords) != len(labels):
        raise UsageError(
            f"coords must be (n, 2) with one label per row, got {coords.shape} and {len(labels)} labels",
            "project the embeddings with project_2d first",
        )
    fig = Figure(figsize=(8, 6), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    noise = labels < 0
    size = 12 if len(labels) < 2_000 else 4
    if noise.any():
        ax.scatter(coords[noise, 0], coords[noise, 1], s=size, c="lightgrey", label="noise", linewidths=0)
    clusters = sorted(int(c) for c in np.unique(labels[~noise]))
    palette = colormaps["tab20"]
    for c in clusters:
        member = labels == c
        ax.scatter(coords[member, 0], coords[member, 1], s=size, color=palette(c % 20), label=str(c), linewidths=0)
    if 0 < len(clusters) <= 20:
        ax.legend(title="cluster", fontsize="small", markerscale=2, loc="best")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)
    fig.tight_layout()
    with atomic_output(path, "wb") as f:
        fig.savefig(f, format="png")
