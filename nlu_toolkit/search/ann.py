"""Approximate nearest-neighbour search (HNSW, via usearch), behind the ``ann`` extra.

Exact search (`nlu_toolkit.core.retrieval.semantic_search`) reads every vector
for every query batch; at a million 384-d vectors a single query costs tens of
milliseconds however it is written. An HNSW graph visits a few thousand
vectors instead, for well under a millisecond, at the price of occasionally
missing a true neighbour (recall@10 around 0.95-0.99 with the defaults; raise
``expansion_search`` to trade speed for recall).

Keys are row indices: the vectors passed to `AnnIndex.build` get keys
``0..n-1`` and `AnnIndex.add` continues from ``start_key``, so a hit's key is
the row of the corpus it came from, as with exact search. Scores are cosine
similarities (``1 - usearch's cosine distance``), comparable with exact search.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from nlu_toolkit.errors import IndexCorrupted, ModelMismatch, UsageError
from nlu_toolkit.extras import require

METRICS = ("cos", "ip")
DTYPES = ("f32", "f16", "bf16", "i8")


def _usearch_index() -> Any:
    return require("usearch.index", extra="ann", package="usearch")


def _as_rows(x: object, name: str, dim: int | None = None) -> np.ndarray:
    if hasattr(x, "detach"):  # torch tensor, without importing torch here
        x = x.detach().cpu().numpy()  # type: ignore[attr-defined]
    arr = np.ascontiguousarray(np.asarray(x), dtype=np.float32)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise UsageError(f"{{={name}}} must be a 2-D array (n, dim), got shape {arr.shape}", "pass one row per text")
    if dim is not None and arr.shape[1] != dim:
        raise UsageError(
            f"{{={name}}} have dimension {arr.shape[1]}, the index {dim}",
            "embed with the model the index was built with",
        )
    return arr


class AnnIndex:
    """An HNSW index over embeddings whose keys are corpus row indices.

    Args:
        dim: embedding dimension.
        metric: ``cos`` (cosine; vectors need not be normalised) or ``ip``
            (inner product, for unit vectors; scores are then dot products).
        dtype: how usearch stores vectors: ``f32`` (exact scores, 4 bytes a
            dimension), ``f16``/``bf16`` (half the memory, scores to ~3 digits),
            ``i8`` (a quarter; meant for unit vectors).
        connectivity: graph degree M; more raises recall and memory.
        expansion_add: candidate list size while building (build quality).
        expansion_search: candidate list size while searching; the main
            speed/recall knob, settable later.
    """

    def __init__(
        self,
        dim: int,
        *,
        metric: str = "cos",
        dtype: str = "f32",
        connectivity: int = 16,
        expansion_add: int = 128,
        expansion_search: int = 64,
    ) -> None:
        if metric not in METRICS:
            raise UsageError(f"unknown ANN {{=metric}} {metric!r}", f"use one of: {', '.join(METRICS)}")
        if dtype not in DTYPES:
            raise UsageError(f"unknown ANN storage type {{=dtype}} {dtype!r}", f"use one of: {', '.join(DTYPES)}")
        for name, value in (
            ("dim", dim),
            ("connectivity", connectivity),
            ("expansion_add", expansion_add),
            ("expansion_search", expansion_search),
        ):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise UsageError(f"{{={name}}} must be a positive integer, got {value!r}", f"use {{={name}}} >= 1")
        usearch = _usearch_index()
        self.dim = int(dim)
        self.metric = metric
        self._index = usearch.Index(
            ndim=self.dim,
            metric=metric,
            dtype=dtype,
            connectivity=connectivity,
            expansion_add=expansion_add,
            expansion_search=expansion_search,
        )

    @classmethod
    def build(
        cls,
        embeddings: np.ndarray,
        *,
        metric: str = "cos",
        dtype: str = "f32",
        connectivity: int = 16,
        expansion_add: int = 128,
        expansion_search: int = 64,
        threads: int = 0,
    ) -> AnnIndex:
        """A new index holding ``embeddings`` ``(n, dim)`` under keys ``0..n-1``.

        Building inserts vectors on ``threads`` threads (0: all cores), so the
        graph, and rarely a hit, can differ between builds of the same data;
        ``threads=1`` makes a build reproducible, more slowly.
        """
        rows = _as_rows(embeddings, "embeddings")
        index = cls(
            rows.shape[1],
            metric=metric,
            dtype=dtype,
            connectivity=connectivity,
            expansion_add=expansion_add,
            expansion_search=expansion_search,
        )
        index.add(rows, start_key=0, threads=threads)
        return index

    def __len__(self) -> int:
        return len(self._index)

    @property
    def expansion_search(self) -> int:
        return int(self._index.expansion_search)

    @expansion_search.setter
    def expansion_search(self, value: int) -> None:
        self._index.expansion_search = int(value)

    def add(self, embeddings: np.ndarray, start_key: int | None = None, *, threads: int = 0) -> None:
        """Add ``(n, dim)`` rows under keys ``start_key..start_key+n-1`` (default: after the current size)."""
        rows = _as_rows(embeddings, "embeddings", self.dim)
        start = len(self) if start_key is None else int(start_key)
        if start < 0:
            raise UsageError(f"{{=start_key}} must be >= 0, got {start}", "keys are corpus row indices")
        if len(rows) == 0:
            return
        keys = np.arange(start, start + len(rows), dtype=np.uint64)
        if len(self) and bool(np.any(self._index.contains(keys))):
            raise UsageError(
                f"keys {start}..{start + len(rows) - 1} overlap keys already in the index",
                f"add new rows from {{=start_key}}={len(self)}",
            )
        self._index.add(keys, rows, threads=threads)

    def replace(self, keys: np.ndarray, embeddings: np.ndarray) -> None:
        """Give the rows ``keys`` (all in the index) the vectors ``embeddings``."""
        rows = _as_rows(embeddings, "embeddings", self.dim)
        keys = np.asarray(keys, dtype=np.uint64)
        self._index.remove(keys)
        self._index.add(keys, rows)

    def delete(self, rows: np.ndarray, total: int) -> None:
        """Remove the rows ``rows`` of ``total`` and renumber the later ones, so keys stay ``0..n-1``."""
        removed = np.unique(np.asarray(rows, dtype=np.int64))
        if len(removed) == 0:
            return
        self._index.remove(removed.astype(np.uint64))
        later = np.arange(removed[0], total, dtype=np.int64)
        later = later[~np.isin(later, removed)]
        # In ascending order each target key is free by the time it is taken (removed, or renamed before).
        renamed = self._index.rename(
            later.astype(np.uint64), np.arange(removed[0], removed[0] + len(later), dtype=np.uint64)
        )
        if len(later) and int(np.sum(renamed)) != len(later):
            raise IndexCorrupted("the ANN index lost rows while renumbering", "rebuild the index")

    def search(self, queries: np.ndarray, top_k: int = 10, *, threads: int = 0) -> list[list[tuple[int, float]]]:
        """Approximate top ``top_k`` per query: ``[(row index, cosine similarity), ...]``, best first."""
        if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
            raise UsageError(f"{{=top_k}} must be a positive integer, got {top_k!r}", "use {=top_k} >= 1")
        rows = _as_rows(queries, "queries", self.dim)
        if len(rows) == 0:
            return []
        if len(self) == 0:
            return [[] for _ in rows]
        matches = self._index.search(rows, int(top_k), threads=threads)
        # One query comes back as Matches (no counts), several as BatchMatches; slots past a row's count hold
        # sentinels (max key, max distance), so rows are cut to their count before any conversion.
        keys, distances = np.atleast_2d(matches.keys), np.atleast_2d(matches.distances)
        counts = np.atleast_1d(getattr(matches, "counts", keys.shape[1]))
        hits = []
        for q in range(len(rows)):
            n = int(counts[q])
            row_keys = keys[q, :n].astype(np.int64)
            # usearch distances: cos -> 1 - cosine, ip -> 1 - dot; both map back to a similarity as 1 - d.
            row_scores = 1.0 - distances[q, :n].astype(np.float64)
            # Equal scores come back in graph order; sort them by key so results are deterministic.
            order = np.lexsort((row_keys, -row_scores))
            hits.append([(int(row_keys[i]), float(row_scores[i])) for i in order])
        return hits

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the index in usearch's own format, atomically (temp file beside ``path``, then rename)."""
        target = Path(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
        try:
            self._index.save(tmp)
            # mkstemp makes the file 0600; give the index the mode a plain open() would (as atomic_output does).
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    @classmethod
    def load(cls, path: str | os.PathLike[str], dim: int, *, expansion_search: int = 64) -> AnnIndex:
        """Read an index written by `save`; ``dim`` is the dimension the caller's model produces.

        Raises:
            IndexCorrupted: the file is missing, truncated or not a usearch index.
            ModelMismatch: the index holds vectors of another dimension.
        """
        usearch = _usearch_index()
        path = Path(path)
        if not path.is_file():
            raise IndexCorrupted(f"ANN index file {path} is missing", "rebuild the index")
        try:
            meta = usearch.Index.metadata(str(path))
            if not meta:
                raise ValueError("no usearch header")
            inner = usearch.Index.restore(str(path), expansion_search=expansion_search)
        except (RuntimeError, ValueError, OSError) as e:
            raise IndexCorrupted(f"cannot read ANN index {path}: {e}", "rebuild the index") from e
        if inner is None or int(inner.ndim) != int(dim):
            found = None if inner is None else int(inner.ndim)
            raise ModelMismatch(
                f"ANN index {path} holds {found}-dimensional vectors, the model makes {dim}",
                "search with the model the index was built with, or rebuild it",
            )
        metric = "ip" if "IP" in str(inner.metric_kind).upper() else "cos"
        index = cls.__new__(cls)
        index.dim = int(dim)
        index.metric = metric
        index._index = inner
        return index
