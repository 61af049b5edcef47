"""Exact cosine search on float vectors, and the row-wise top-k the whole package ranks with.

Shapes: ``queries`` are ``(n_queries, dim)``, a corpus ``(n_corpus, dim)``;
score blocks are ``(query_chunk_size, corpus_chunk_size)``; top-k results are
``(n_queries, k)`` value and index tensors, turned into `Hits` (one list of
``(corpus index, score)`` per query). Scores are cosine similarities, as in
``sentence_transformers.util``; ties go to the lower corpus index everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
import torch

from nlu_toolkit.core.finite import check_finite, nonfinite_error, nonfinite_rows
from nlu_toolkit.errors import UsageError

Hits = list[list[tuple[int, float]]]
Precision = Literal["float32", "int8", "ubinary"]
PRECISIONS = ("float32", "int8", "ubinary")

_EPS = 1e-12  # as torch.nn.functional.normalize, so zero rows score 0 instead of NaN


def _as_matrix(x: object, name: str, *, finite: bool = True) -> torch.Tensor:
    """A float32 ``(n, dim)`` tensor view of ``x``; numpy float32 input is shared, not copied.

    With ``finite``, rows holding NaN or infinity are an `InputError` naming them
    (a corpus searched chunk by chunk is checked per chunk instead, see `semantic_search`).
    """
    if isinstance(x, torch.Tensor):
        t = x.detach()
    else:
        t = torch.from_numpy(np.ascontiguousarray(np.asarray(x), dtype=np.float32))
    if t.dtype != torch.float32:
        t = t.float()
    if t.ndim == 1:
        t = t.unsqueeze(0)
    if t.ndim != 2:
        raise UsageError(f"{name} must be a 2-D array (n, dim), got shape {tuple(t.shape)}", "pass one row per text")
    if finite:
        check_finite(t, name)
    return t


def _normalize(t: torch.Tensor) -> torch.Tensor:
    """Rows of ``(n, dim)`` ``t`` scaled to unit length (zero rows stay zero); same shape."""
    return t / t.norm(dim=1, keepdim=True).clamp_min(_EPS)


def _check_top_k(top_k: int) -> None:
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
        raise UsageError(f"top_k must be a positive integer, got {top_k!r}", "use top_k >= 1")


def _check_dims(queries: torch.Tensor, corpus_dim: int) -> None:
    """``queries`` ``(n_queries, dim)`` must have ``dim == corpus_dim``."""
    if queries.shape[1] != corpus_dim:
        raise UsageError(
            f"query dimension {queries.shape[1]} does not match corpus dimension {corpus_dim}",
            "embed queries and corpus with the same model",
        )


def _order(vals: torch.Tensor, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sort each row of ``(n, k)`` ``vals``/``idx`` by score descending, then index ascending (two stable sorts)."""
    by_idx = torch.argsort(idx, dim=1, stable=True)
    vals, idx = vals.gather(1, by_idx), idx.gather(1, by_idx)
    by_val = torch.argsort(vals, dim=1, descending=True, stable=True)
    return vals.gather(1, by_val), idx.gather(1, by_val)


def _topk(scores: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Row-wise top ``k`` of a score matrix (float or integer), ties at the cut resolved to the lower column.

    ``torch.topk`` picks arbitrarily among equal scores. One comparison pass
    finds the rows with more than ``k`` scores at or above their k-th best, and
    only those rows are redone: rare for float scores (duplicate rows), common
    for Hamming distances, still cheaper than folding the column into an int64
    key for every score.
    """
    vals, idx = torch.topk(scores, k, dim=1, largest=True, sorted=True)
    if scores.is_cpu:
        # numpy for the elementwise pass: torch wakes its thread pool for it, which costs milliseconds per call on a
        # busy machine, more than the pass itself. A bool matrix viewed as bytes sums fastest.
        s_np, kth = scores.numpy(), vals[:, -1:].numpy()
        crowded = np.flatnonzero((s_np >= kth).view(np.uint8).sum(axis=1, dtype=np.int64) > k)
        for r in crowded.tolist():
            above = np.flatnonzero(s_np[r] > kth[r])
            tied = np.flatnonzero(s_np[r] == kth[r])[: k - len(above)]
            idx[r] = torch.from_numpy(np.concatenate([above, tied]))
            vals[r] = scores[r, idx[r]]
    else:
        kth = vals[:, -1:]
        for r in torch.nonzero((scores >= kth).sum(1) > k).flatten().tolist():
            above = torch.nonzero(scores[r] > kth[r]).flatten()
            tied = torch.nonzero(scores[r] == kth[r]).flatten()[: k - len(above)]
            idx[r] = torch.cat([above, tied])
            vals[r] = scores[r, idx[r]]
    return _order(vals, idx)


def _chunked_topk(
    n_queries: int,
    n_corpus: int,
    k: int,
    score_chunk: Callable[[int, int, int, int], torch.Tensor],
    *,
    query_chunk_size: int,
    corpus_chunk_size: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Top ``k`` over the corpus for every query, scoring one (query chunk, corpus chunk) block at a time.

    ``score_chunk(q0, q1, c0, c1)`` returns the ``(q1 - q0, c1 - c0)`` scores
    (float or integer). The running best ``(n_queries, k)`` lists are merged
    with each chunk's own top ``k``. Corpus chunks are the outer loop so any
    per-chunk preparation (norms, dtype conversion) happens once per chunk.
    """
    best_vals: torch.Tensor | None = None
    best_idx = torch.empty(0)
    for c0 in range(0, n_corpus, corpus_chunk_size):
        c1 = min(c0 + corpus_chunk_size, n_corpus)
        kc = min(k, c1 - c0)
        vals_parts, idx_parts = [], []
        for q0 in range(0, n_queries, query_chunk_size):
            q1 = min(q0 + query_chunk_size, n_queries)
            scores = score_chunk(q0, q1, c0, c1)
            v, i = _topk(scores, kc)
            vals_parts.append(v)
            idx_parts.append(i + c0)
        vals, idx = torch.cat(vals_parts), torch.cat(idx_parts)
        if best_vals is None:
            best_vals, best_idx = vals, idx
        else:
            merged_vals, merged_idx = _order(torch.cat([best_vals, vals], 1), torch.cat([best_idx, idx], 1))
            best_vals, best_idx = merged_vals[:, :k], merged_idx[:, :k]
    assert best_vals is not None
    return best_vals, best_idx


def _to_hits(vals: torch.Tensor, idx: torch.Tensor) -> Hits:
    """``(n_queries, k)`` scores and corpus indices as one ``[(index, score), ...]`` list per query."""
    return [list(zip(i, v, strict=True)) for i, v in zip(idx.tolist(), vals.float().tolist(), strict=True)]


def semantic_search(
    query_embeddings: np.ndarray | torch.Tensor,
    corpus_embeddings: np.ndarray | torch.Tensor,
    *,
    top_k: int = 10,
    normalized: bool = False,
    query_chunk_size: int = 100,
    corpus_chunk_size: int = 500_000,
) -> Hits:
    """Exact cosine-similarity search, as ``sentence_transformers.util.semantic_search``.

    Args:
        query_embeddings: ``(n_queries, dim)`` (or ``(dim,)`` for one query).
        corpus_embeddings: ``(n_corpus, dim)``; numpy float32 or a CPU tensor is
            used in place (a numpy memmap works, read chunk by chunk).
        top_k: hits per query (all of the corpus if it is smaller).
        normalized: the rows are already unit vectors; skip the norms and take
            plain dot products (same results on unit vectors, a little faster).
        query_chunk_size, corpus_chunk_size: block sizes; memory peaks at one
            ``(query_chunk_size, corpus_chunk_size)`` float32 matrix (200 MB at
            the defaults), plus the corpus chunk's norms.

    Returns:
        One list per query of ``(corpus index, score)``, best first, ties broken
        by the lower index.

    Cosine is taken as ``(q / |q|) . c / |c|``: dividing the scores by the
    corpus norms avoids a normalised copy of each corpus chunk, and matches
    sentence-transformers to float32 rounding (about 1e-7).
    """
    _check_top_k(top_k)
    with torch.no_grad():
        queries = _as_matrix(query_embeddings, "query_embeddings")
        corpus = _as_matrix(corpus_embeddings, "corpus_embeddings", finite=False)  # checked per chunk below
        _check_dims(queries, corpus.shape[1])
        if len(queries) == 0:
            return []
        if len(corpus) == 0:
            return [[] for _ in range(len(queries))]
        queries = queries.to(corpus.device)
        if not normalized:
            queries = _normalize(queries)
        inv_norms: dict[int, torch.Tensor] = {}

        def score_chunk(q0: int, q1: int, c0: int, c1: int) -> torch.Tensor:
            chunk = corpus[c0:c1]
            scores = queries[q0:q1] @ chunk.T
            if not normalized:
                if c0 not in inv_norms:  # once per corpus chunk, not per query chunk
                    inv_norms.clear()
                    inv_norms[c0] = 1.0 / chunk.norm(dim=1).clamp_min(_EPS)
                scores *= inv_norms[c0]
            if not bool(torch.isfinite(scores).all()):  # a corpus row with NaN/inf (or values too large)
                rows = nonfinite_rows(chunk)
                if not len(rows):
                    rows = torch.nonzero(~torch.isfinite(scores).all(dim=0)).flatten().numpy()
                raise nonfinite_error(rows, len(corpus), "corpus_embeddings", offset=c0)
            return scores

        vals, idx = _chunked_topk(
            len(queries),
            len(corpus),
            min(top_k, len(corpus)),
            score_chunk,
            query_chunk_size=query_chunk_size,
            corpus_chunk_size=corpus_chunk_size,
        )
        return _to_hits(vals, idx)
