"""Non-finite vectors are an InputError naming the rows, wherever the library takes user vectors.

All-NaN embeddings given to ``nlu cluster --embeddings`` used to end as "unexpected"
(scikit-learn's ValueError from k-means); NaN rows in a search corpus silently sank to
the bottom of (or vanished from) the hit lists.
"""

from __future__ import annotations

import numpy as np
import pytest

from nlu_toolkit.core.cluster import cluster_embeddings
from nlu_toolkit.core.finite import check_finite
from nlu_toolkit.core.retrieval import (
    community_detection,
    paraphrase_mining_embeddings,
    quantize,
    quantized_search,
    semantic_search,
)
from nlu_toolkit.errors import InputError
from nlu_toolkit.tasks.cluster import cluster, load_embeddings


def _vectors(n: int = 12, dim: int = 8, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)


def _poisoned(rows: list[int], value: float = np.nan) -> np.ndarray:
    x = _vectors()
    for r in rows:
        x[r, r % x.shape[1]] = value
    return x


def test_check_finite_names_the_rows_and_counts_the_rest():
    check_finite(_vectors())  # finite: no error
    check_finite(np.zeros((3, 4), dtype=np.int8))  # integer codes are always finite
    with pytest.raises(InputError, match=r"^embeddings: row 4 \(of 12, counting from 0\) holds NaN"):
        check_finite(_poisoned([4], np.inf))
    with pytest.raises(InputError, match=r"rows 0, 1, 2, 3, 4 and 7 more \(of 12"):
        check_finite(np.full((12, 8), np.nan))


@pytest.mark.parametrize("method", ["kmeans", "agglomerative", "community", "hdbscan"])
def test_cluster_embeddings_refuses_nan_rows(method):
    with pytest.raises(InputError, match="rows 2, 7"):
        cluster_embeddings(_poisoned([2, 7]), method=method)


def test_cluster_function_refuses_all_nan_embeddings():
    with pytest.raises(InputError, match="hold NaN or infinite values"):
        cluster(embeddings=np.full((10, 8), np.nan, dtype=np.float32))


def test_semantic_search_refuses_non_finite_queries_and_corpus_rows():
    corpus = _vectors()
    with pytest.raises(InputError, match="query_embeddings: row 0"):
        semantic_search(np.array([[np.nan] * 8], dtype=np.float32), corpus)
    # The corpus is checked chunk by chunk (a memmap is never read whole for the check); row numbers are global.
    with pytest.raises(InputError, match="corpus_embeddings: row 9 "):
        semantic_search(corpus[:2], _poisoned([9], -np.inf), corpus_chunk_size=4)
    with pytest.raises(InputError, match="corpus_embeddings: row 3 "):
        semantic_search(corpus[:1], _poisoned([3]), normalized=True)


def test_semantic_search_refuses_finite_rows_too_large_to_score():
    corpus = _vectors()
    corpus[5] = 3e38  # finite, but its norm and dot products overflow float32
    with pytest.raises(InputError, match="corpus_embeddings: row 5 "):
        semantic_search(_vectors(2), corpus)


@pytest.mark.parametrize(
    "call",
    [
        lambda x: paraphrase_mining_embeddings(x),
        lambda x: community_detection(x, min_size=2),
        lambda x: quantize(x, "int8"),
    ],
)
def test_other_vector_functions_refuse_nan_rows(call):
    with pytest.raises(InputError, match="embeddings: row 6 "):
        call(_poisoned([6]))


def test_quantized_search_refuses_nan_rescore_rows():
    corpus = _vectors()
    codes, ranges = quantize(corpus, "int8")
    with pytest.raises(InputError, match=r"rescore_embeddings: rows? "):
        quantized_search(corpus[:2], codes, "int8", ranges=ranges, top_k=3, rescore_embeddings=_poisoned(range(12)))


@pytest.mark.parametrize("value", [np.nan, np.inf, 1e300])  # 1e300 is finite in float64, infinite in float32
def test_load_embeddings_refuses_non_finite_rows_naming_the_file(tmp_path, value):
    path = tmp_path / "vectors.npy"
    x = _vectors().astype(np.float64)
    x[3, 1] = value
    np.save(path, x)
    with pytest.raises(InputError, match=r"vectors\.npy: embeddings: row 3 "):
        load_embeddings(path)


def test_load_embeddings_parquet_with_a_null_vector_is_an_input_error(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "vectors.parquet"
    pq.write_table(pa.table({"embedding": [[0.1, 0.2], None]}), path)
    with pytest.raises(InputError, match="cannot read embeddings"):
        load_embeddings(path)
