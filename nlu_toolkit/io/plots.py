"""Charts written as PNG files: the confusion matrix (``nlu evaluate --confusion-png``) and the cluster
scatter (``nlu cluster --plot``).

One plotting module, in ``io`` (outputs), so the pure functions in ``core`` never import matplotlib or
a writer. matplotlib's object API with the Agg canvas: no GUI backend, no global pyplot state. Every
chart is written atomically (a temp file beside the target, then renamed).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from nlu_toolkit.core.metrics import check_labels
from nlu_toolkit.errors import UsageError
from nlu_toolkit.io.writers import atomic_output

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from matplotlib.text import Text
    from matplotlib.transforms import Bbox


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


#: 20 colours that stay apart on a white background (after Trubetskoy's "20 distinct colours", grey left
#: for noise): strong hues first, so a map with few clusters never shows two shades of one hue.
CLUSTER_PALETTE = (
    "#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#9a6324", "#000075", "#808000",
    "#800000", "#469990", "#bfef45", "#fabed4", "#dcbeff", "#ffe119", "#aaffc3", "#ffd8b1", "#000000", "#fffac8",
)  # fmt: skip
NOISE_COLOUR = "#b0b0b0"
MAX_LABELLED = 20  # clusters named on the map and in the legend (the largest ones: cluster 0 is the largest)


def plot_clusters(
    coords: np.ndarray,
    labels: Sequence[int] | np.ndarray,
    path: str | os.PathLike[str] | None,
    *,
    title: str | None = None,
    keywords: Mapping[int, Sequence[str]] | None = None,
    n_keywords: int = 2,
) -> Figure:
    """Draw a scatter of ``(n, 2)`` ``coords`` coloured by cluster, noise (``-1``) in grey; write it to ``path``.

    Each cluster gets a colour of `CLUSTER_PALETTE` (20 distinct ones, then they repeat), and its
    number and first ``n_keywords`` ``keywords`` written at its centre (the median of its points), for
    the `MAX_LABELLED` largest clusters. The legend names them with their sizes, ``"3: refund, order
    (12)"``, and ``"noise (5)"``. Dots shrink as the number of points grows. Written atomically (temp
    file, then rename) when ``path`` is given. Uses matplotlib's object API with the Agg canvas, so no
    GUI backend or global pyplot state is touched.

    Returns:
        The `Figure`: one scatter collection per cluster (its ``label`` the legend entry), noise first;
        the cluster names are the axes' texts.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    coords = np.asarray(coords)
    labels = np.asarray(labels)
    if coords.ndim != 2 or coords.shape[1] != 2 or len(coords) != len(labels):
        raise UsageError(
            f"coords must be (n, 2) with one label per row, got {coords.shape} and {len(labels)} labels",
            "project the embeddings with project_2d first",
        )
    keywords = keywords or {}
    fig = Figure(figsize=(10, 7), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    n = len(labels)
    size = 40.0 if n <= 500 else 16.0 if n <= 5_000 else 5.0
    edge = {"edgecolors": "#404040", "linewidths": 0.4} if n <= 5_000 else {"linewidths": 0}
    noise = labels < 0
    if noise.any():
        ax.scatter(
            coords[noise, 0], coords[noise, 1], s=size * 0.6, color=NOISE_COLOUR, alpha=0.6, linewidths=0,
            label=f"noise ({int(noise.sum())})", zorder=1,
        )  # fmt: skip
    clusters = sorted(int(c) for c in np.unique(labels[~noise]))
    for rank, c in enumerate(clusters):
        member = labels == c
        words = [str(w) for w in keywords.get(c, [])[:n_keywords]]
        name = f"{c}: {', '.join(words)}" if words else str(c)
        labelled = rank < MAX_LABELLED
        colour = CLUSTER_PALETTE[rank % len(CLUSTER_PALETTE)]
        ax.scatter(
            coords[member, 0], coords[member, 1], s=size, color=colour, alpha=0.85, zorder=2,
            label=f"{name} ({int(member.sum())})" if labelled else "_nolegend_", **edge,
        )  # fmt: skip
        if labelled:
            centre = tuple(float(v) for v in np.median(coords[member], axis=0))
            ax.annotate(
                name, xy=centre, xytext=(0, 0), textcoords="offset pixels", ha="center", va="center",
                fontsize=8, weight="bold", zorder=3, arrowprops={"arrowstyle": "-", "color": colour, "lw": 0.8},
                bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": colour, "alpha": 0.7},
            )  # fmt: skip
    if clusters or noise.any():
        more = len(clusters) - MAX_LABELLED
        ax.legend(
            title="cluster: keywords (size)" + (f"; {more} more not named" if more > 0 else ""),
            fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, frameon=False,
        )  # fmt: skip
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)
    fig.tight_layout()
    _spread_labels(fig, ax.texts)
    if path is not None:
        with atomic_output(path, "wb") as f:
            fig.savefig(f, format="png")
    return fig


def _spread_labels(fig: Figure, labels: Sequence[Text]) -> None:
    """Move cluster names that would cover an earlier (larger cluster's) name up or down, in steps of
    their height, so none overlaps; each keeps a thin line to its centre."""
    from matplotlib.text import Text

    renderer = fig.canvas.get_renderer()
    placed: list[Bbox] = []
    for label in labels:

        def extent(label: Text = label) -> Bbox:  # the text and its frame, not the line to the centre
            return Text.get_window_extent(label, renderer).padded(3)

        box = extent()
        for i in range(1, 41):
            if not any(box.overlaps(other) for other in placed):
                break
            label.xyann = (0.0, box.height * ((i + 1) // 2) * (1 if i % 2 else -1))  # +1, -1, +2, -2, ... rows
            box = extent()
        placed.append(box)
