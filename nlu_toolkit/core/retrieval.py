"""Exact and quantized semantic search, paraphrase mining and community detection on embeddings.

Everything here is a pure function of arrays: ``embeddings`` are ``(n, dim)``
float arrays (numpy or torch), results are plain Python lists. Scores are
cosine similarities, as in ``sentence_transformers.util`` (rows are
L2-normalised unless the caller says they already are), so results can be
compared one to one with those utilities.

Memory is bounded by chunking: a search holds one ``(query_chunk_size,
corpus_chunk_size)`` score matrix at a time, never ``(n_queries, n_corpus)``.
Ties are broken by the lower corpus index everywhere, so results are
deterministic even with duplicate rows.
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
    return t / t.norm(dim=1, keepdim=True).clamp_min(_EPS)


def _check_top_k(top_k: int) -> None:
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
        raise UsageError(f"top_k must be a positive integer, got {top_k!r}", "use top_k >= 1")


def _check_dims(queries: torch.Tensor, corpus_dim: int) -> None:
    if queries.shape[1] != corpus_dim:
        raise UsageError(
            f"query dimension {queries.shape[1]} does not match corpus dimension {corpus_dim}",
            "embed queries and corpus with the same model",
        )


def _order(vals: torch.Tensor, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sort each row by score descending, then index ascending (two stable sorts)."""
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


# ---------------------------------------------------------------- quantized search


def _int8_steps(ranges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ranges = np.asarray(ranges, dtype=np.float32)
    starts = ranges[0]
    steps = (ranges[1] - starts) / 255
    return starts, np.where(steps == 0, 1, steps).astype(np.float32)


def quantize(
    embeddings: np.ndarray | torch.Tensor,
    precision: Precision,
    ranges: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Quantize ``(n, dim)`` embeddings for a smaller, faster search index.

    Rows are L2-normalised first, so quantized scores estimate cosine similarity.

    - ``float32``: the normalised rows, ``(n, dim)`` float32 (4 bytes a dimension).
    - ``int8``: ``(n, dim)`` int8 (1 byte a dimension), each dimension mapped
      linearly from its ``[min, max]`` onto 256 buckets, as
      ``sentence_transformers.quantization.quantize_embeddings``. ``ranges``
      ``(2, dim)`` holds those min/max rows: computed here from the data when
      not given, and returned so that later additions reuse the same buckets.
    - ``ubinary``: ``(n, ceil(dim / 8))`` uint8, the sign bits packed
      (1 bit a dimension, 32x smaller than float32).

    Returns:
        ``(codes, ranges)``; ``ranges`` is None except for int8.
    """
    if precision not in PRECISIONS:
        raise UsageError(f"unknown precision {precision!r}", f"use one of: {', '.join(PRECISIONS)}")
    x = _normalize(_as_matrix(embeddings, "embeddings").cpu()).numpy()
    if precision == "float32":
        return x, None
    if precision == "ubinary":
        return np.packbits(x > 0, axis=1), None
    if ranges is None:
        if len(x) < 2:
            raise UsageError(
                "int8 ranges cannot be calibrated on fewer than 2 embeddings",
                "pass the ranges returned when the corpus was quantized",
            )
        ranges = np.vstack([x.min(axis=0), x.max(axis=0)]).astype(np.float32)
    ranges = np.asarray(ranges, dtype=np.float32)
    if ranges.shape != (2, x.shape[1]):
        raise UsageError(
            f"ranges must have shape (2, {x.shape[1]}), got {ranges.shape}",
            "pass the ranges returned when the corpus was quantized",
        )
    starts, steps = _int8_steps(ranges)
    codes = np.clip(np.floor((x - starts) / steps), 0, 255) - 128
    return codes.astype(np.int8), ranges


def _int_matmul(a: torch.Tensor, b_t: torch.Tensor) -> torch.Tensor:
    """``a @ b_t`` for int8 matrices, int32 result.

    ``torch._int_mm`` uses the CPU's int8 dot-product instructions (about 1.5x
    sgemm, and a quarter of the memory traffic, which is what bounds a single
    query). It is a private API, so any failure falls back to float32, which is
    exact here: |sums| <= dim * 127 * 128 stays far below 2**24 for dim < 1024.
    """
    if hasattr(torch, "_int_mm"):
        try:
            return torch._int_mm(a, b_t)
        except (RuntimeError, NotImplementedError):
            pass
    return (a.float() @ b_t.float()).round().to(torch.int32)


def _popcount(x: np.ndarray) -> np.ndarray:
    if hasattr(np, "bitwise_count"):  # numpy >= 2.0
        return np.bitwise_count(x)
    table = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)
    return table[x.view(np.uint8)].reshape(*x.shape, -1).sum(-1, dtype=np.uint8)


def quantized_search(
    query_embeddings: np.ndarray | torch.Tensor,
    corpus_codes: np.ndarray,
    precision: Precision,
    *,
    ranges: np.ndarray | None = None,
    top_k: int = 10,
    rescore_embeddings: np.ndarray | torch.Tensor | None = None,
    rescore_multiplier: int = 4,
    query_chunk_size: int = 100,
    corpus_chunk_size: int = 262_144,
) -> Hits:
    """Search codes made by `quantize` with float queries, optionally rescoring with float vectors.

    Args:
        query_embeddings: ``(n_queries, dim)`` float queries (normalised here).
        corpus_codes: the codes from ``quantize(corpus, precision)``.
        precision: ``float32``, ``int8`` or ``ubinary``.
        ranges: the int8 ``(2, dim)`` ranges returned by `quantize` (required for int8).
        top_k: hits per query.
        rescore_embeddings: ``(n_corpus, dim)`` float corpus; when given, the
            ``top_k * rescore_multiplier`` best candidates by quantized score
            are rescored by exact cosine. Only candidate rows are read, so a
            numpy memmap of the float corpus keeps it on disk.
        rescore_multiplier: candidates per hit kept for rescoring.

    Scoring:
        - ``int8``: the int8 query ``round((q * step) / s)`` dotted with the
          codes. Folding the per-dimension bucket width into the query before
          quantizing it makes the integer dot product rank like
          ``q . dequantize(code)``; quantizing the raw query with the corpus
          ranges, as a symmetric int8 index does, would add a per-document bias
          (``offset . code``). Without rescoring, scores are that estimate of
          the cosine.
        - ``ubinary``: Hamming distance between sign bits (popcount of XOR on
          64-bit words); without rescoring, scores are ``1 - 2 * hamming / dim``.

    Returns:
        As `semantic_search`: one list per query of ``(corpus index, score)``,
        best first, ties by the lower index.

    Memory: one corpus chunk's scores per query chunk (int32 or int64), plus for
    ubinary a ``(16, corpus_chunk_size, words)`` XOR buffer.
    """
    _check_top_k(top_k)
    if precision not in PRECISIONS:
        raise UsageError(f"unknown precision {precision!r}", f"use one of: {', '.join(PRECISIONS)}")
    if rescore_multiplier < 1:
        raise UsageError(f"rescore_multiplier must be >= 1, got {rescore_multiplier}", "4 is a good default")
    with torch.no_grad():
        queries = _normalize(_as_matrix(query_embeddings, "query_embeddings").cpu())
        n_corpus = len(corpus_codes)
        if len(queries) == 0:
            return []
        if n_corpus == 0:
            return [[] for _ in range(len(queries))]
        if precision == "float32":
            if rescore_embeddings is None:
                return semantic_search(
                    queries, corpus_codes, top_k=top_k, normalized=True, query_chunk_size=query_chunk_size
                )
            k_cand = min(n_corpus, top_k * rescore_multiplier)
            hits = semantic_search(queries, corpus_codes, top_k=k_cand, normalized=True)
            cand = torch.tensor([[i for i, _ in h] for h in hits])
        else:
            k_cand = min(n_corpus, top_k * rescore_multiplier if rescore_embeddings is not None else top_k)
            if precision == "int8":
                vals, cand = _int8_topk(queries, corpus_codes, ranges, k_cand, query_chunk_size, corpus_chunk_size)
            else:
                vals, cand = _binary_topk(queries, corpus_codes, k_cand, query_chunk_size, corpus_chunk_size)
            if rescore_embeddings is None:
                return _to_hits(vals, cand)
        return _rescore(queries, cand, rescore_embeddings, top_k)


def _int8_topk(
    queries: torch.Tensor,
    codes: np.ndarray,
    ranges: np.ndarray | None,
    k: int,
    query_chunk_size: int,
    corpus_chunk_size: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    dim = queries.shape[1]
    if ranges is None:
        raise UsageError("int8 search needs the quantization ranges", "pass the ranges returned by quantize()")
    if codes.dtype != np.int8 or codes.ndim != 2 or codes.shape[1] != dim:
        raise UsageError(
            f"int8 codes must be (n, {dim}) int8, got {codes.shape} {codes.dtype}",
            "quantize the corpus with quantize(corpus, 'int8') and the same model as the queries",
        )
    starts, steps = _int8_steps(ranges)
    # Bucket c covers [start + step*(c+128), start + step*(c+129)); its centre is start + step*(c + 128.5).
    w = queries * torch.from_numpy(steps)
    bias = queries @ torch.from_numpy(starts + 128.5 * steps)
    scale = w.abs().amax(dim=1).clamp_min(_EPS) / 127
    w8 = torch.round(w / scale[:, None]).to(torch.int8)
    codes_t = torch.from_numpy(np.ascontiguousarray(codes))

    def score_chunk(q0: int, q1: int, c0: int, c1: int) -> torch.Tensor:
        return _int_matmul(w8[q0:q1], codes_t[c0:c1].T)

    vals, idx = _chunked_topk(
        len(queries), len(codes), k, score_chunk, query_chunk_size=query_chunk_size, corpus_chunk_size=corpus_chunk_size
    )
    return vals.double() * scale[:, None].double() + bias[:, None].double(), idx


def _binary_topk(
    queries: torch.Tensor,
    codes: np.ndarray,
    k: int,
    query_chunk_size: int,
    corpus_chunk_size: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    dim = queries.shape[1]
    n_bytes = (dim + 7) // 8
    if codes.dtype != np.uint8 or codes.ndim != 2 or codes.shape[1] != n_bytes:
        raise UsageError(
            f"ubinary codes must be (n, {n_bytes}) uint8, got {codes.shape} {codes.dtype}",
            "quantize the corpus with quantize(corpus, 'ubinary') and the same model as the queries",
        )
    q_bits = np.packbits(queries.numpy() > 0, axis=1)
    # 64-bit words need 8x fewer popcounts than bytes; dims that are not a multiple of 64 fall back to bytes.
    word = np.uint64 if n_bytes % 8 == 0 else np.uint8
    c_words = np.ascontiguousarray(codes).view(word)
    q_words = q_bits.view(word)
    block = 16  # queries at once: bounds the (block, chunk) XOR buffer (32 MB at the default chunk size)
    transposed: dict[int, np.ndarray] = {}

    def score_chunk(q0: int, q1: int, c0: int, c1: int) -> torch.Tensor:
        if c0 not in transposed:  # word-major copy of the chunk, once per corpus chunk: contiguous rows to XOR
            transposed.clear()
            transposed[c0] = np.ascontiguousarray(c_words[c0:c1].T)
        chunk_t = transposed[c0]
        hamming = np.zeros((q1 - q0, c1 - c0), dtype=np.int32)
        for b0 in range(q0, q1, block):
            b1 = min(b0 + block, q1)
            for w in range(len(chunk_t)):
                xor = np.bitwise_xor(q_words[b0:b1, w, None], chunk_t[w][None, :])
                hamming[b0 - q0 : b1 - q0] += _popcount(xor)
        # The +-1 dot product of the sign vectors: higher is better, and score = dot / dim.
        return torch.from_numpy(dim - 2 * hamming)

    vals, idx = _chunked_topk(
        len(queries), len(codes), k, score_chunk, query_chunk_size=query_chunk_size, corpus_chunk_size=corpus_chunk_size
    )
    return vals.double() / dim, idx


def _rescore(queries: torch.Tensor, cand: torch.Tensor, rescore_embeddings: object, top_k: int) -> Hits:
    """Exact cosine of each query against its candidates only; ``(n_queries, n_cand, dim)`` floats at once."""
    flat = cand.flatten().numpy()
    if isinstance(rescore_embeddings, torch.Tensor):
        rows = rescore_embeddings.detach()[torch.from_numpy(flat)].float().cpu().numpy()
    else:
        # Sorted unique rows: sequential reads when the float corpus is a memmap.
        uniq, inverse = np.unique(flat, return_inverse=True)
        rows = np.asarray(np.asarray(rescore_embeddings)[uniq], dtype=np.float32)[inverse]
    if rows.ndim != 2 or rows.shape[1] != queries.shape[1]:
        raise UsageError(
            f"rescore_embeddings must be (n, {queries.shape[1]}), got rows of shape {rows.shape[1:]}",
            "pass the float embeddings the codes were made from",
        )
    bad = nonfinite_rows(rows)
    if len(bad):
        raise nonfinite_error(np.unique(flat[bad]), len(rescore_embeddings), "rescore_embeddings")  # type: ignore[arg-type]
    rows /= np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), _EPS)
    # numpy, not torch, for these small products: see _topk.
    scores = np.matmul(rows.reshape(*cand.shape, -1), queries.numpy()[:, :, None])[..., 0]
    vals, idx = _order(torch.from_numpy(scores), cand)
    return _to_hits(vals[:, :top_k], idx[:, :top_k])


# ---------------------------------------------------------------- paraphrase mining and communities


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
