"""Ranking quality (MRR@10, recall@k, nDCG@10) of a query-document score matrix."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import numpy as np

from nlu_toolkit.errors import UsageError

_RANK_CUTOFF = 10  # MRR and nDCG are reported @10, as sentence-transformers' InformationRetrievalEvaluator
_CHUNK_ELEMENTS = 4_000_000  # scores per query chunk (32 MB as float64, plus masks of the same shape)


def _top_k_rows(s: np.ndarray, k: int) -> np.ndarray:
    """Column indices of each row's ``k`` best scores, best first, ties broken by the lower column.

    ``argpartition`` alone picks arbitrarily among scores equal to the k-th
    best, so the cut is redone with masks: everything above the k-th value,
    then the lowest-indexed ties to fill ``k``. Only the ``(rows, k)`` winners
    are sorted, never the full row.
    """
    n_rows, n_cols = s.shape
    if k >= n_cols:
        kth = s.min(axis=1, keepdims=True)
    else:
        kth = np.partition(s, n_cols - k, axis=1)[:, n_cols - k : n_cols - k + 1]
    above = s > kth
    tied = s == kth
    room = k - above.sum(axis=1, keepdims=True)
    keep = above | (tied & (np.cumsum(tied, axis=1) <= room))
    cols = np.nonzero(keep)[1].reshape(n_rows, k)  # row-major: ascending column within each row
    vals = np.take_along_axis(s, cols, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")  # stable on ascending columns = ties by lower index
    return np.take_along_axis(cols, order, axis=1)


def _score_rows(scores: Any, q0: int, q1: int) -> np.ndarray:
    chunk = scores[q0:q1]
    if hasattr(chunk, "detach"):  # a torch tensor, maybe on GPU or bfloat16: only this chunk moves to the CPU
        chunk = chunk.detach().float().cpu().numpy()
    chunk = np.asarray(chunk, dtype=np.float64)
    if np.isnan(chunk).any():
        raise UsageError("scores contain NaN", "check the embeddings for NaN or zero vectors")
    return chunk


def retrieval_metrics(
    scores: Any,
    relevant: Sequence[Collection[int]],
    ks: Sequence[int] = (1, 3, 5, 10),
    *,
    query_chunk_size: int | None = None,
) -> dict:
    """Ranking quality of a query-document score matrix against known relevant documents.

    Args:
        scores: ``(n_queries, n_docs)`` similarities (numpy, a memmap or a torch
            tensor on any device), higher is better.
        relevant: ``relevant[i]`` is the set of relevant document indices of query ``i``
            (at least one each).
        ks: cut-offs for recall.
        query_chunk_size: queries ranked at once; default keeps a chunk near
            4 million scores.

    Returns:
        ``{"mrr@10", "recall@k" for each k in ks, "ndcg@10", "n_queries"}``:
        means over queries, with binary relevance. ``recall@k`` is
        ``|relevant ∩ top k| / |relevant|``; ``mrr@10`` the reciprocal rank of
        the first relevant document in the top 10 (0 if none); ``ndcg@10``
        normalised by the ideal ranking of ``min(|relevant|, 10)`` documents.
        Ranks break ties by the lower document index. The numbers match
        sentence-transformers' ``InformationRetrievalEvaluator`` (which breaks
        ties by corpus id, so equal there when ids sort as the indices do).

    Only the top ``max(max(ks), 10)`` of each row is extracted (partition, then
    a sort of those few), one chunk of queries at a time.
    """
    ks = list(ks)
    if not ks or any(isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1 for k in ks):
        raise UsageError(f"ks must be positive integers, got {ks!r}", "for example ks=(1, 3, 5, 10)")
    shape = tuple(getattr(scores, "shape", ()))
    if len(shape) != 2:
        scores = np.asarray(scores)
        shape = scores.shape
    if len(shape) != 2:
        raise UsageError(f"scores must be a 2-D (n_queries, n_docs) matrix, got shape {shape}", "one row per query")
    n_queries, n_docs = int(shape[0]), int(shape[1])
    if n_queries == 0 or n_docs == 0:
        raise UsageError(f"scores has shape {shape}: nothing to rank", "pass at least one query and one document")
    if len(relevant) != n_queries:
        raise UsageError(
            f"scores has {n_queries} query rows but relevant has {len(relevant)} entries", "one set per query"
        )
    rel_sets: list[set[int]] = []
    for i, rel in enumerate(relevant):
        docs = {int(d) for d in rel}
        if not docs:
            raise UsageError(
                f"query {i} has no relevant document", "drop queries without judgements; their scores are undefined"
            )
        if min(docs) < 0 or max(docs) >= n_docs:
            raise UsageError(f"query {i} lists a relevant document outside 0..{n_docs - 1}", "indices index columns")
        rel_sets.append(docs)
    if query_chunk_size is not None and query_chunk_size < 1:
        raise UsageError(f"query_chunk_size must be >= 1, got {query_chunk_size}", "leave it unset for the default")

    depth = min(max(*ks, _RANK_CUTOFF), n_docs)
    chunk = query_chunk_size or max(1, _CHUNK_ELEMENTS // n_docs)
    discounts = 1.0 / np.log2(np.arange(2, _RANK_CUTOFF + 2))
    mrr = ndcg = 0.0
    recall = dict.fromkeys(ks, 0.0)
    for q0 in range(0, n_queries, chunk):
        q1 = min(q0 + chunk, n_queries)
        top = _top_k_rows(_score_rows(scores, q0, q1), depth)
        for row, docs in zip(top.tolist(), rel_sets[q0:q1], strict=True):
            hit = [d in docs for d in row]
            first = next((r for r, h in enumerate(hit[:_RANK_CUTOFF]) if h), None)
            mrr += 0.0 if first is None else 1.0 / (first + 1)
            dcg = sum(discounts[r] for r, h in enumerate(hit[:_RANK_CUTOFF]) if h)
            ndcg += dcg / discounts[: min(len(docs), _RANK_CUTOFF)].sum()
            for k in ks:
                recall[k] += sum(hit[:k]) / len(docs)
    result: dict[str, Any] = {f"mrr@{_RANK_CUTOFF}": float(mrr / n_queries)}
    result.update({f"recall@{k}": float(v / n_queries) for k, v in recall.items()})
    result[f"ndcg@{_RANK_CUTOFF}"] = float(ndcg / n_queries)
    result["n_queries"] = n_queries
    return result
