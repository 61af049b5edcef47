"""Quantized search: int8 and binary (``ubinary``) codes, scored with float queries, optionally rescored.

Shapes: embeddings ``(n, dim)`` float; int8 codes ``(n, dim)`` int8 with
``ranges`` ``(2, dim)`` float32 (per-dimension min and max rows); ubinary codes
``(n, ceil(dim / 8))`` uint8 (packed sign bits); float32 codes ``(n, dim)``
(normalised rows). Candidate indices for rescoring are ``(n_queries, n_cand)``.
"""

from __future__ import annotations

import numpy as np
import torch

from nlu_toolkit.core.finite import nonfinite_error, nonfinite_rows
from nlu_toolkit.core.retrieval.exact import (
    _EPS,
    PRECISIONS,
    Hits,
    Precision,
    _as_matrix,
    _check_top_k,
    _chunked_topk,
    _normalize,
    _order,
    _to_hits,
    semantic_search,
)
from nlu_toolkit.errors import UsageError


def _int8_steps(ranges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(2, dim)`` min/max ranges as ``(dim,)`` bucket starts and ``(dim,)`` bucket widths (never 0)."""
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
    """Set bits of each element of an unsigned integer array, same shape."""
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
    """Top ``k`` of normalised ``(n_queries, dim)`` queries against ``(n_corpus, dim)`` int8 codes.

    Returns ``(n_queries, k)`` float64 estimated cosines and int64 corpus indices.
    """
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
    """Top ``k`` of ``(n_queries, dim)`` queries against ``(n_corpus, ceil(dim / 8))`` uint8 sign-bit codes.

    Returns ``(n_queries, k)`` float64 scores ``1 - 2 * hamming / dim`` and int64 corpus indices.
    """
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
    # numpy, not torch, for these small products: see exact._topk.
    scores = np.matmul(rows.reshape(*cand.shape, -1), queries.numpy()[:, :, None])[..., 0]
    vals, idx = _order(torch.from_numpy(scores), cand)
    return _to_hits(vals[:, :top_k], idx[:, :top_k])
