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

Modules: `exact` (float search, the shared top-k), `quantized` (int8 and
binary codes, rescoring), `mining` (paraphrase mining, community detection).
"""

from nlu_toolkit.core.retrieval.exact import PRECISIONS, Hits, Precision, semantic_search
from nlu_toolkit.core.retrieval.mining import community_detection, paraphrase_mining_embeddings
from nlu_toolkit.core.retrieval.quantized import quantize, quantized_search

__all__ = [
    "PRECISIONS",
    "Hits",
    "Precision",
    "community_detection",
    "paraphrase_mining_embeddings",
    "quantize",
    "quantized_search",
    "semantic_search",
]
