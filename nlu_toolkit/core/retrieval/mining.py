"""Paraphrase mining and community detection on one set of embeddings against itself.

Shapes: ``embeddings`` are ``(n, dim)`` float (numpy or torch), L2-normalised
here; score blocks are ``(chunk_size, n)`` or ``(batch_size, n)`` float32.
Results are plain Python lists of row indices (and scores).
"""

from __future__ import annotations

import numpy as np
import torch

from nlu_toolkit.core.retrieval.exact import _as_matrix, _check_top_k, _normalize, _topk
from nlu_toolkit.errors import UsageError


def paraphrase_mining_embeddings(
    embeddings: np.ndarray | torch.Tensor,
    *,
    threshold: float = 0.9,
    top_k: int = 100,
    chunk_size: int | None = None,
) -> list[tuple[float, int, int]]:
    """Pairs of near-duplicate rows: ``(score, i, j)`` with ``i < j`` and cosine ``score >= threshold``.

    As ``sentence_transformers.util.paraphrase_mining_embeddings``, a pair is a
    candidate when one row is among the other's ``top_k`` nearest rows (itself
    excluded); each pair appears once, best first (ties by ``i``, then ``j``).

    Args:
        embeddings: ``(n, dim)``.
        threshold: lowest cosine kept.
        top_k: neighbours looked at per row; at most ``n * top_k`` pairs result.
        chunk_size: rows scored at once against all rows; default keeps the
            ``(chunk_size, n)`` score block near 100 MB.

    One normalised float32 copy of ``embeddings`` is made (``n * dim * 4`` bytes).
    """
    _check_top_k(top_k)
    with torch.no_grad():
        x = _normalize(_as_matrix(embeddings, "embeddings"))
        n = len(x)
        if n < 2:
            return []
        chunk = chunk_size or max(1, min(n, 25_000_000 // n))
        k = min(top_k, n - 1)
        thr = torch.tensor(threshold, dtype=torch.float32)
        found_i, found_j, found_s = [], [], []
        for a in range(0, n, chunk):
            b = min(a + chunk, n)
            scores = x[a:b] @ x.T
            scores[torch.arange(b - a), torch.arange(a, b)] = -torch.inf
            vals, idx = _topk(scores, k)
            rows, cols = torch.nonzero(vals >= thr, as_tuple=True)
            found_i.append((rows + a).numpy())
            found_j.append(idx[rows, cols].numpy())
            found_s.append(vals[rows, cols].numpy())
    i_all, j_all, s_all = np.concatenate(found_i), np.concatenate(found_j), np.concatenate(found_s)
    lo, hi = np.minimum(i_all, j_all), np.maximum(i_all, j_all)
    # A pair found from both ends keeps the score from the lower row (found first), as sentence-transformers.
    _, first = np.unique(lo * n + hi, return_index=True)
    lo, hi, s = lo[first], hi[first], s_all[first]
    order = np.lexsort((hi, lo, -s))
    return [(float(s[t]), int(lo[t]), int(hi[t])) for t in order]


def community_detection(
    embeddings: np.ndarray | torch.Tensor,
    *,
    threshold: float = 0.75,
    min_size: int = 10,
    batch_size: int = 1024,
) -> list[list[int]]:
    """Fast community detection, as ``sentence_transformers.util.community_detection``.

    Every row with at least ``min_size`` rows (itself included) at cosine
    ``>= threshold`` is a candidate centre, its community those rows. Candidate
    communities are taken largest first (ties by lower centre), each keeping
    only rows not claimed yet, and kept if still ``>= min_size``.

    Returns:
        Non-overlapping communities, largest first; each lists its centre first,
        then members by decreasing similarity to the centre (ties by lower index).
        Rows in no community appear nowhere.

    Two passes instead of sentence-transformers' one, to halve the work and
    bound memory:

    1. Neighbour counts from the upper triangle of the similarity matrix only
       (it is symmetric): about ``n**2 / 2`` dot products.
    2. Members, recomputed only for candidates whose centre is still unclaimed
       when their turn comes, ``_CENTRES_AT_ONCE`` rows at a time. On clustered
       data that is a small fraction of the rows, since the first community of
       each cluster claims most of it.

    Memory is one ``(batch_size, n)`` float32 block (200 MB for n = 50,000),
    plus ``O(n)``; candidate communities are never all held at once (the
    sentence-transformers version keeps them all: 4 bytes times the sum of
    their sizes). Member sets equal sentence-transformers' except for pairs
    within float32 rounding of ``threshold``; the order of members whose
    similarities agree to rounding may differ.
    """
    if min_size < 1:
        raise UsageError(f"min_size must be >= 1, got {min_size}", "use min_size >= 1 (default 10)")
    if batch_size < 1:
        raise UsageError(f"batch_size must be >= 1, got {batch_size}", "use batch_size >= 1 (default 1024)")
    with torch.no_grad():
        x = _as_matrix(embeddings, "embeddings")
        n = len(x)
        if n == 0 or n < min_size:
            return []
        x = _normalize(x)
        thr = torch.tensor(threshold, dtype=torch.float32)  # compared in float32, as sentence-transformers

        counts = np.zeros(n, dtype=np.int64)
        for a in range(0, n, batch_size):
            b = min(a + batch_size, n)
            # Rows a:b against columns a: covers every pair (i <= j) once; the diagonal block both ways.
            block = ((x[a:b] @ x[a:].T) >= thr).numpy().view(np.uint8)
            # numpy sums a bool matrix viewed as bytes several times faster than torch counts it.
            counts[a:b] += block.sum(axis=1, dtype=np.int64)
            counts[b:] += block[:, b - a :].sum(axis=0, dtype=np.int64)

        centres = np.flatnonzero(counts >= min_size)
        centres = centres[np.argsort(-counts[centres], kind="stable")]  # largest first, ties by lower centre
        used = np.zeros(n, dtype=bool)
        communities: list[list[int]] = []
        pos = 0
        while pos < len(centres):
            pending: list[int] = []
            while pos < len(centres) and len(pending) < _CENTRES_AT_ONCE:
                if not used[centres[pos]]:
                    pending.append(int(centres[pos]))
                pos += 1
            if not pending:
                break
            scores = (x[pending] @ x.T).numpy()
            for centre, row in zip(pending, scores, strict=True):
                if used[centre]:
                    continue
                members = np.flatnonzero(row >= np.float32(threshold))
                free = members[~used[members]]
                if len(free) < min_size:
                    continue
                free = free[free != centre]
                free = free[np.lexsort((free, -row[free]))]  # by decreasing similarity, ties by lower index
                kept = [centre, *free.tolist()]
                communities.append(kept)
                used[kept] = True
    return sorted(communities, key=len, reverse=True)


# Rows of candidate centres scored at once in community_detection's second pass: more amortises the
# matrix product, fewer wastes less work on centres claimed by an earlier community of the same batch.
_CENTRES_AT_ONCE = 32
