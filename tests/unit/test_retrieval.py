"""Unit tests for nlu_toolkit.core.retrieval: equality with sentence-transformers' utilities, quantized recall."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sentence_transformers import util as st_util

from nlu_toolkit.core.retrieval import (
    community_detection,
    paraphrase_mining_embeddings,
    quantize,
    quantized_search,
    semantic_search,
)
from nlu_toolkit.errors import UsageError


def clustered(n: int, dim: int = 64, k: int = 20, noise: float = 0.3, seed: int = 0) -> np.ndarray:
    """Gaussian blobs around ``k`` random centres: neighbours are meaningful, as with real embeddings.

    The centres depend only on ``dim`` and ``k``, so queries drawn with another seed fall in the same blobs.
    """
    centres = np.random.default_rng(dim * 1000 + k).normal(size=(k, dim))
    rng = np.random.default_rng(seed)
    return (centres[rng.integers(0, k, n)] + noise * rng.normal(size=(n, dim))).astype(np.float32)


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def ids(hits) -> list[list[int]]:
    return [[i for i, _ in h] for h in hits]


def recall(hits, truth) -> float:
    return float(np.mean([len(set(a) & set(b)) / len(b) for a, b in zip(ids(hits), ids(truth), strict=True)]))


# ---------------------------------------------------------------- exact search


@pytest.mark.parametrize(("query_chunk", "corpus_chunk"), [(100, 500_000), (7, 333)])
def test_semantic_search_equals_sentence_transformers(query_chunk, corpus_chunk):
    rng = np.random.default_rng(1)
    corpus = clustered(2000) * rng.uniform(0.5, 3.0, size=(2000, 1)).astype(np.float32)  # not unit vectors
    queries = clustered(40, seed=2)
    ours = semantic_search(queries, corpus, top_k=10, query_chunk_size=query_chunk, corpus_chunk_size=corpus_chunk)
    theirs = st_util.semantic_search(torch.from_numpy(queries), torch.from_numpy(corpus), top_k=10)
    assert ids(ours) == [[h["corpus_id"] for h in row] for row in theirs]
    for row, their_row in zip(ours, theirs, strict=True):
        np.testing.assert_allclose([s for _, s in row], [h["score"] for h in their_row], atol=1e-6)


def test_semantic_search_accepts_tensors_and_one_query():
    corpus = clustered(300)
    query = corpus[5] + 0.01
    from_numpy = semantic_search(query, corpus, top_k=3)
    from_torch = semantic_search(torch.from_numpy(query), torch.from_numpy(corpus), top_k=3)
    assert len(from_numpy) == 1 and from_numpy[0][0][0] == 5
    assert ids(from_numpy) == ids(from_torch)


def test_normalized_fast_path_matches_on_unit_vectors():
    corpus, queries = unit(clustered(1000)), unit(clustered(20, seed=3))
    slow = semantic_search(queries, corpus, top_k=10)
    fast = semantic_search(queries, corpus, top_k=10, normalized=True)
    assert ids(slow) == ids(fast)
    np.testing.assert_allclose([s for h in slow for _, s in h], [s for h in fast for _, s in h], atol=1e-6)


def test_ties_break_by_lower_index_across_chunks():
    base = unit(clustered(50))
    corpus = np.concatenate([base, base, base])  # every row three times: rows i, i + 50, i + 100 tie
    hits = semantic_search(base[7], corpus, top_k=3, corpus_chunk_size=20)
    assert ids(hits) == [[7, 57, 107]]
    hits = semantic_search(base[7], corpus, top_k=2, corpus_chunk_size=1000)
    assert ids(hits) == [[7, 57]]


def test_top_k_larger_than_corpus_and_empty_inputs():
    corpus = clustered(5)
    assert len(semantic_search(corpus[:2], corpus, top_k=50)[0]) == 5
    assert semantic_search(np.zeros((0, 64)), corpus) == []
    assert semantic_search(corpus[:2], np.zeros((0, 64))) == [[], []]


@pytest.mark.parametrize("bad", [{"top_k": 0}, {"top_k": 2.5}])
def test_semantic_search_bad_parameters(bad):
    with pytest.raises(UsageError):
        semantic_search(clustered(3), clustered(10), **bad)


def test_dimension_mismatch_is_a_usage_error():
    with pytest.raises(UsageError, match="dimension"):
        semantic_search(np.ones((1, 32)), np.ones((4, 64)))


# ---------------------------------------------------------------- quantized search


def test_int8_codes_equal_sentence_transformers_quantization():
    from sentence_transformers.quantization import quantize_embeddings

    raw = clustered(500)
    x, _ = quantize(raw, "float32")  # the float32 unit rows that int8 quantizes
    codes, ranges = quantize(raw, "int8")
    assert codes.dtype == np.int8 and ranges.shape == (2, 64)
    np.testing.assert_array_equal(codes, quantize_embeddings(x, "int8", ranges=ranges))
    # Later additions reuse the stored ranges.
    more, same = quantize(raw[:10], "int8", ranges=ranges)
    np.testing.assert_array_equal(more, codes[:10])
    np.testing.assert_array_equal(same, ranges)


def test_ubinary_codes_are_packed_sign_bits():
    x = clustered(10, dim=20)
    codes, ranges = quantize(x, "ubinary")
    assert ranges is None and codes.dtype == np.uint8 and codes.shape == (10, 3)
    np.testing.assert_array_equal(codes, np.packbits(x > 0, axis=1))


def test_int8_rescored_top10_equals_float_top10_on_most_queries():
    corpus, queries = clustered(4000, dim=128, noise=0.5), clustered(50, dim=128, noise=0.5, seed=4)
    truth = semantic_search(queries, corpus, top_k=10)
    codes, ranges = quantize(corpus, "int8")
    plain = quantized_search(queries, codes, "int8", ranges=ranges, top_k=10)
    rescored = quantized_search(queries, codes, "int8", ranges=ranges, top_k=10, rescore_embeddings=corpus)
    same = [a == b for a, b in zip(ids(rescored), ids(truth), strict=True)]
    assert sum(same) >= 0.9 * len(same)
    assert recall(plain, truth) >= 0.8
    # Without rescoring, scores still estimate the cosine.
    np.testing.assert_allclose([h[0][1] for h in plain], [h[0][1] for h in truth], atol=0.02)
    # Rescored scores are exact cosines.
    for got, want in zip(rescored, truth, strict=True):
        exact = dict(want)
        for i, s in got:
            if i in exact:
                assert abs(s - exact[i]) < 1e-5


def test_ubinary_rescored_recall_at_10():
    # Many small blobs (about 10 rows each), so a query's top 10 is mostly its own blob, as with near-paraphrases.
    corpus = clustered(4000, dim=384, k=400, noise=0.5)
    queries = clustered(50, dim=384, k=400, noise=0.5, seed=5)
    truth = semantic_search(queries, corpus, top_k=10)
    codes, _ = quantize(corpus, "ubinary")
    rescored = quantized_search(queries, codes, "ubinary", top_k=10, rescore_embeddings=corpus, corpus_chunk_size=1500)
    assert recall(rescored, truth) >= 0.9
    plain = quantized_search(queries, codes, "ubinary", top_k=10)
    assert all(-1.0 <= s <= 1.0 for h in plain for _, s in h)


def test_hamming_scores_and_tie_order():
    x = np.array([[1, 1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 1, -1], [1, 1, 1, 1, 1, 1, 1, 1]], dtype=np.float32)
    codes, _ = quantize(x, "ubinary")
    hits = quantized_search(x[0], codes, "ubinary", top_k=3)
    assert hits == [[(0, 1.0), (2, 1.0), (1, 0.75)]]  # 1 - 2 * hamming / dim; tie 0 / 2 by index


def test_quantized_results_do_not_depend_on_chunking():
    corpus, queries = clustered(1000), clustered(9, seed=6)
    for precision in ("int8", "ubinary"):
        codes, ranges = quantize(corpus, precision)
        a = quantized_search(queries, codes, precision, ranges=ranges, top_k=7)
        b = quantized_search(
            queries, codes, precision, ranges=ranges, top_k=7, query_chunk_size=2, corpus_chunk_size=111
        )
        assert ids(a) == ids(b)


def test_rescore_reads_a_memmap(tmp_path):
    corpus, queries = clustered(800), clustered(5, seed=7)
    path = tmp_path / "corpus.npy"
    np.save(path, corpus)
    mapped = np.load(path, mmap_mode="r")
    codes, ranges = quantize(corpus, "int8")
    a = quantized_search(queries, codes, "int8", ranges=ranges, rescore_embeddings=mapped)
    b = quantized_search(queries, codes, "int8", ranges=ranges, rescore_embeddings=torch.from_numpy(corpus))
    assert ids(a) == ids(b)


def test_float32_precision_is_exact_search():
    corpus, queries = clustered(500), clustered(5, seed=8)
    codes, _ = quantize(corpus, "float32")
    assert ids(quantized_search(queries, codes, "float32")) == ids(semantic_search(queries, corpus))


def test_quantized_search_usage_errors():
    corpus = clustered(100)
    codes, ranges = quantize(corpus, "int8")
    with pytest.raises(UsageError, match="ranges"):
        quantized_search(corpus[:1], codes, "int8")
    with pytest.raises(UsageError, match="precision"):
        quantize(corpus, "int4")
    with pytest.raises(UsageError):
        quantized_search(corpus[:1, :32], codes, "int8", ranges=ranges)
    with pytest.raises(UsageError, match="fewer than 2"):
        quantize(corpus[:1], "int8")


# ---------------------------------------------------------------- paraphrase mining


def test_paraphrase_mining_equals_sentence_transformers_above_threshold():
    x = clustered(800, noise=0.15)
    ours = paraphrase_mining_embeddings(x, threshold=0.9, top_k=20, chunk_size=99)
    theirs = st_util.paraphrase_mining_embeddings(torch.from_numpy(x), top_k=20, max_pairs=10**7)
    theirs = {(i, j): s for s, i, j in theirs if s >= 0.9}
    assert ours and {(i, j) for _, i, j in ours} == set(theirs)
    for s, i, j in ours:
        assert i < j
        assert abs(s - theirs[(i, j)]) < 1e-6
    scores = [s for s, _, _ in ours]
    assert scores == sorted(scores, reverse=True)


def test_paraphrase_mining_finds_duplicates_once():
    x = clustered(30, noise=1.0)
    x[20] = x[3]
    pairs = paraphrase_mining_embeddings(x, threshold=0.999)
    assert [(i, j) for _, i, j in pairs] == [(3, 20)]
    assert paraphrase_mining_embeddings(x[:1]) == []


# ---------------------------------------------------------------- community detection


@pytest.mark.parametrize(("n", "threshold", "noise"), [(3000, 0.8, 0.4), (1500, 0.6, 0.7)])
def test_community_detection_equals_sentence_transformers(n, threshold, noise):
    x = clustered(n, noise=noise, seed=n)
    ours = community_detection(x, threshold=threshold, min_size=10, batch_size=500)
    theirs = st_util.community_detection(x, threshold=threshold, min_community_size=10, batch_size=500)
    assert len(ours) == len(theirs) > 0
    for a, b in zip(ours, theirs, strict=True):
        assert a[0] == b[0] and sorted(a) == sorted(b)
    # Member order matches too, except among similarities equal to float32 rounding.
    unit_x = torch.nn.functional.normalize(torch.from_numpy(x))
    for a, b in zip(ours, theirs, strict=True):
        sims = (unit_x[a] @ unit_x[a[0]]).numpy()
        mismatched = [t for t in range(len(a)) if a[t] != b[t]]
        for t in mismatched:
            assert abs(sims[t] - float(unit_x[b[t]] @ unit_x[a[0]])) < 1e-6


def test_communities_are_disjoint_and_largest_first():
    x = clustered(1000, k=5, noise=0.5)
    found = community_detection(x, threshold=0.7, min_size=5)
    members = [i for c in found for i in c]
    assert len(members) == len(set(members))
    assert [len(c) for c in found] == sorted((len(c) for c in found), reverse=True)
    assert all(len(c) >= 5 for c in found)


def test_community_detection_small_inputs():
    assert community_detection(np.zeros((0, 8))) == []
    assert community_detection(clustered(5), min_size=10) == []
    with pytest.raises(UsageError):
        community_detection(clustered(20), min_size=0)
