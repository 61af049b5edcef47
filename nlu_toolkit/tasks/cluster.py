"""Clustering and near-duplicate mining of texts (or of saved embeddings).

These only encode; the work is done by the pure functions in `nlu_toolkit.core`
on the embeddings, which are tested without a model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nlu_toolkit.core.finite import check_finite
from nlu_toolkit.engine.options import RunFields, RunOptions
from nlu_toolkit.errors import InputError, UsageError
from nlu_toolkit.models.resolver import ModelInfo
from nlu_toolkit.records import with_fields
from nlu_toolkit.tasks.common import Inputs
from nlu_toolkit.tasks.embed import Embedder

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing.Unpack is Python 3.11+


@dataclass
class ClusterResult:
    """Per-text cluster records ``{"id", "text", "cluster"}`` (-1 = noise), and a summary per cluster
    ``{"cluster", "size", "keywords", "representatives"}``."""

    records: list[dict[str, Any]]
    labels: np.ndarray
    summary: list[dict[str, Any]]
    embeddings: np.ndarray
    model_info: ModelInfo | None = None
    #: Why the asked-for backend (``backend="onnx"``) is not the one that ran, if it is not.
    runtime_warning: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def plot(self, path: str | Path, *, seed: int = 0, title: str | None = None) -> str:
        """Draw a 2-D map coloured by cluster to a PNG, each cluster named by its top keywords at its centre
        and in a legend with its size; returns the projection used (umap or pca)."""
        from nlu_toolkit.core.cluster import project_2d
        from nlu_toolkit.io.plots import plot_clusters

        coords, method = project_2d(self.embeddings, seed=seed)
        keywords = {int(c["cluster"]): c["keywords"] for c in self.summary if c["cluster"] >= 0}
        n_clusters = len(keywords)
        n_noise = int((self.labels < 0).sum())
        default = f"{n_clusters} clusters" + (f", {n_noise} noise" if n_noise else "") + f" ({method})"
        plot_clusters(coords, self.labels, path, title=title or default, keywords=keywords)
        return method


def load_embeddings(path: str | Path) -> np.ndarray:
    """Read a ``.npy`` matrix (as `nlu embed -o X.npy` writes) or the ``embedding`` column of a Parquet file."""
    p = Path(path)
    if not p.is_file():
        raise InputError("no such file", "check the path of the embeddings file", path=str(p))
    try:
        if p.suffix.lower() in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            column = pq.read_table(p, columns=["embedding"]).column("embedding").to_pylist()
            matrix = np.asarray(column, dtype=np.float32)
        else:
            matrix = np.load(p, allow_pickle=False)  # never unpickle user files
    except (ValueError, OSError, KeyError, TypeError) as e:  # TypeError: a null in the Parquet column
        raise InputError(
            f"cannot read embeddings ({e})",
            "give a .npy file or a Parquet file with an 'embedding' column",
            path=str(p),
        ) from e
    if matrix.ndim != 2 or len(matrix) == 0 or matrix.dtype.kind not in "fiu":
        raise InputError(
            f"embeddings must be a non-empty 2-D numeric array, got shape {matrix.shape}",
            "write them with: nlu embed --input FILE -o X.npy",
            path=str(p),
        )
    with np.errstate(over="ignore"):  # float64 values beyond float32's range become infinite: refused below
        matrix = matrix.astype(np.float32)
    check_finite(matrix, "embeddings", path=str(p))
    return matrix


def cluster(
    inputs: Inputs | None = None,
    model: str | None = None,
    *,
    embeddings: np.ndarray | None = None,
    method: str = "kmeans",
    k: int | str | None = None,
    threshold: float | None = None,
    min_size: int | None = None,
    seed: int = 0,
    keywords: int = 5,
    representatives: int = 3,
    long: str = "truncate",
    stride: int | None = None,
    run: RunOptions | None = None,
    **options: Unpack[RunFields],
) -> ClusterResult:
    """Cluster texts (encoded with ``model``, default the embedded MiniLM) or given ``embeddings``.

    Args:
        inputs: texts or records with ``text``; optional when ``embeddings`` are given
            (then keywords and representative texts need them, in the same order).
        embeddings: an ``(n, dim)`` array to cluster instead of encoding ``inputs``.
        method: ``kmeans``, ``agglomerative``, ``community`` or ``hdbscan``.
        k: clusters for k-means or agglomerative; for k-means ``None`` or ``"auto"`` picks k by silhouette.
        threshold: a cosine similarity in [-1, 1] for community and agglomerative (higher = tighter
            clusters; agglomerative's was a distance before: distance d is similarity 1 - d).
        min_size: smallest community / HDBSCAN cluster.
        seed: makes k-means, the silhouette sample and the 2-D map repeatable.
        long, stride: `Embedder`'s (``truncate`` or ``chunk``, and the windows' overlap).
        run: how the model runs (`RunOptions`); its fields may also be given as keywords. Unused
            when ``embeddings`` are given.
    """
    from nlu_toolkit.core.cluster import cluster_embeddings, summarize_clusters
    from nlu_toolkit.tasks.common import as_records

    run = RunOptions.merge(run, **options)
    records: list[dict[str, Any]] = []
    info = None
    warning = None
    if inputs is not None:
        records = list(as_records(inputs))
    if embeddings is None:
        if not records:
            raise UsageError("nothing to cluster", "pass texts or records as {=inputs}, or {=embeddings}")
        embedder = Embedder(model, normalize=True, long=long, stride=stride, run=run)
        info, warning = embedder.model_info, embedder.runtime_warning
        parts = [embedder.encode([r["text"] for r in records[i : i + 1024]])[0] for i in range(0, len(records), 1024)]
        embeddings = np.concatenate(parts)
    elif records and len(records) != len(embeddings):
        raise InputError(
            f"{len(records)} texts but {len(embeddings)} embeddings",
            "give the texts the embeddings were made from, in the same order",
        )
    if not records:
        records = [{"id": i} for i in range(len(embeddings))]
    labels = cluster_embeddings(embeddings, method=method, k=k, threshold=threshold, min_size=min_size, seed=seed)
    texts = [str(r.get("text", r["id"])) for r in records]
    summary = summarize_clusters(
        texts,
        embeddings,
        labels,
        top_n_keywords=keywords if "text" in records[0] else 0,
        n_representatives=representatives,
    )
    out = [with_fields(r, cluster=int(c)) for r, c in zip(records, labels, strict=True)]
    return ClusterResult(out, labels, summary, np.asarray(embeddings, dtype=np.float32), info, warning)


def dedupe(
    inputs: Inputs,
    model: str | None = None,
    *,
    threshold: float = 0.9,
    top_k: int = 100,
    long: str = "truncate",
    stride: int | None = None,
    run: RunOptions | None = None,
    **options: Unpack[RunFields],
) -> list[dict[str, Any]]:
    """Near-duplicate pairs above a cosine ``threshold``: ``{"score", "a_id", "b_id", "a", "b"}``, best first.

    Each text is encoded once; pairs come from `core.retrieval.paraphrase_mining_embeddings`,
    which compares in chunks (memory grows with the corpus, not its square). ``long``, ``stride``
    and ``run`` (or its fields as keywords) are `Embedder`'s.
    """
    from nlu_toolkit.core.retrieval import paraphrase_mining_embeddings
    from nlu_toolkit.tasks.common import as_records

    run = RunOptions.merge(run, **options)
    if not 0.0 < threshold <= 1.0:
        raise UsageError(f"{{=threshold}} must be in (0, 1], got {threshold}", "pass e.g. {=threshold}=0.9")
    records = list(as_records(inputs))
    embedder = Embedder(model, normalize=True, long=long, stride=stride, run=run)
    parts = [embedder.encode([r["text"] for r in records[i : i + 1024]])[0] for i in range(0, len(records), 1024)]
    vectors = np.concatenate(parts)
    pairs = paraphrase_mining_embeddings(vectors, threshold=threshold, top_k=top_k)
    return [
        {
            "score": float(s),
            "a_id": records[i]["id"],
            "b_id": records[j]["id"],
            "a": records[i]["text"],
            "b": records[j]["text"],
        }
        for s, i, j in pairs
    ]
