"""Unit tests for nlu_toolkit.core.cluster."""

from __future__ import annotations

import numpy as np
import pytest

from nlu_toolkit.core.cluster import (
    AGGLOMERATIVE_MAX_N,
    cluster_embeddings,
    cosine_silhouette,
    ctfidf_keywords,
    project_2d,
    relabel_by_size,
    representatives,
    summarize_clusters,
)
from nlu_toolkit.errors import UsageError
from nlu_toolkit.io.plots import plot_clusters


def blobs(sizes: list[int], dim: int = 32, noise: float = 0.15, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Well-separated blobs of the given sizes; returns (embeddings, true labels)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(sizes), dim))
    labels = np.repeat(np.arange(len(sizes)), sizes)
    x = centres[labels] + noise * rng.normal(size=(len(labels), dim))
    perm = rng.permutation(len(labels))
    return x[perm].astype(np.float32), labels[perm]


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """True when a and b group the rows identically, whatever the cluster ids."""
    pairs = set(zip(a.tolist(), b.tolist(), strict=True))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


# ---------------------------------------------------------------- clustering


@pytest.mark.parametrize("method", ["kmeans", "agglomerative", "community", "hdbscan"])
def test_methods_recover_separated_blobs(method):
    x, truth = blobs([60, 45, 30])
    options = {"k": 3} if method == "kmeans" else {}
    labels = cluster_embeddings(x, method=method, **options)
    assert labels.shape == (len(x),) and labels.dtype.kind == "i"
    assert same_partition(labels, truth)


def test_labels_numbered_by_size():
    x, _ = blobs([20, 70, 40])
    labels = cluster_embeddings(x, method="kmeans", k=3)
    assert np.bincount(labels).tolist() == [70, 40, 20]


def test_relabel_keeps_noise_and_orders_ties_by_first_appearance():
    assert relabel_by_size(np.array([5, -1, 7, 7, 5, 9])).tolist() == [0, -1, 1, 1, 0, 2]


def test_kmeans_auto_finds_k_on_separated_blobs():
    x, truth = blobs([40, 35, 30, 25, 20], noise=0.1)
    labels = cluster_embeddings(x, method="kmeans", k="auto")
    assert labels.max() + 1 == 5
    assert same_partition(labels, truth)
    # The default k for kmeans is "auto".
    assert np.array_equal(cluster_embeddings(x), labels)


def test_kmeans_auto_does_not_buy_its_score_with_singletons():
    # 34 points in 11 loose groups of 2-4, like short texts of many topics: the plain silhouette
    # (singletons score 0, above the ~0.05 average) picked k=20 with 9 clusters of one point.
    sizes = [4, 4, 2, 3, 3, 2, 3, 2, 4, 3, 4]
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(len(sizes), 64))
    x = (centres[np.repeat(np.arange(len(sizes)), sizes)] + 2.0 * rng.normal(size=(sum(sizes), 64))).astype(np.float32)
    counts = np.bincount(cluster_embeddings(x, method="kmeans", k="auto"))
    assert counts.min() >= 2 and 5 <= len(counts) <= 14, counts


def test_kmeans_auto_samples_large_inputs(monkeypatch):
    import nlu_toolkit.core.cluster as cluster

    monkeypatch.setattr(cluster, "AUTO_K_SAMPLE", 50)
    x, truth = blobs([80, 70, 60], noise=0.1)
    assert same_partition(cluster_embeddings(x, method="kmeans", k="auto"), truth)


@pytest.mark.parametrize("method", ["kmeans", "agglomerative", "community", "hdbscan"])
def test_same_seed_same_labels(method):
    x, _ = blobs([30, 30, 30, 30], noise=0.6, seed=3)
    options = {"k": 4} if method == "kmeans" else {}
    a = cluster_embeddings(x, method=method, seed=7, **options)
    b = cluster_embeddings(x, method=method, seed=7, **options)
    assert np.array_equal(a, b)


def test_community_leaves_unclustered_rows_as_noise():
    x, _ = blobs([30, 25])
    outliers = np.random.default_rng(9).normal(size=(5, x.shape[1])).astype(np.float32)
    labels = cluster_embeddings(np.concatenate([x, outliers]), method="community", threshold=0.8, min_size=10)
    assert labels[-5:].tolist() == [-1] * 5
    assert sorted(np.bincount(labels[labels >= 0]).tolist()) == [25, 30]


def test_hdbscan_marks_noise():
    x, _ = blobs([40, 40])
    outliers = np.random.default_rng(9).normal(size=(20, x.shape[1])).astype(np.float32)
    labels = cluster_embeddings(np.concatenate([x, outliers]), method="hdbscan", min_size=10)
    assert (labels[-20:] == -1).sum() >= 15
    assert set(labels[:-20].tolist()) == {0, 1}


def test_agglomerative_threshold_and_k():
    x, truth = blobs([25, 20, 15])
    assert same_partition(cluster_embeddings(x, method="agglomerative", threshold=0.5), truth)
    assert cluster_embeddings(x, method="agglomerative", k=2).max() == 1
    # A threshold of (nearly) 1, the tightest similarity, puts every row in its own cluster.
    assert len(set(cluster_embeddings(x, method="agglomerative", threshold=1 - 1e-9).tolist())) == len(x)


@pytest.mark.parametrize("similarity", [0.2, 0.5, 0.8])
def test_agglomerative_threshold_is_a_cosine_similarity(similarity):
    from sklearn.cluster import AgglomerativeClustering

    x, _ = blobs([25, 20, 15], noise=1.2)
    cut = AgglomerativeClustering(
        n_clusters=None, distance_threshold=1 - similarity, metric="cosine", linkage="average"
    ).fit_predict(x)
    assert same_partition(cluster_embeddings(x, method="agglomerative", threshold=similarity), cut)


@pytest.mark.parametrize("method", ["agglomerative", "community"])
def test_higher_threshold_means_tighter_clusters_for_every_method(method):
    x, _ = blobs([25, 20, 15], noise=1.2)
    options = {"min_size": 1} if method == "community" else {}
    counts = [len(set(cluster_embeddings(x, method=method, threshold=t, **options).tolist())) for t in (0.1, 0.5, 0.9)]
    assert counts == sorted(counts) and counts[0] < counts[-1]


def test_an_old_agglomerative_distance_above_1_is_refused_with_its_similarity():
    x, _ = blobs([10, 10])
    with pytest.raises(UsageError, match=r"cosine similarity in \[-1, 1\] for every method") as info:
        cluster_embeddings(x, method="agglomerative", threshold=1.5)
    assert "similarity -0.5" in info.value.hint and info.value.params == ["threshold"]


def test_agglomerative_refuses_large_inputs_and_names_the_alternative(monkeypatch):
    import nlu_toolkit.core.cluster as cluster

    monkeypatch.setattr(cluster, "AGGLOMERATIVE_MAX_N", 10)
    x, _ = blobs([20])
    with pytest.raises(UsageError, match=r"O\(n\^2\) memory") as info:
        cluster_embeddings(x, method="agglomerative")
    assert "kmeans" in info.value.hint
    assert AGGLOMERATIVE_MAX_N == 20_000


@pytest.mark.parametrize(
    "kwargs",
    [
        {"method": "spectral"},
        {"method": "community", "k": 3},
        {"method": "hdbscan", "k": 3},
        {"method": "kmeans", "threshold": 0.5},
        {"method": "kmeans", "min_size": 5},
        {"method": "kmeans", "k": 0},
        {"method": "kmeans", "k": 1000},
        {"method": "kmeans", "k": "many"},
        {"method": "agglomerative", "k": 2, "threshold": 0.5},
        {"method": "agglomerative", "k": "auto"},
        {"method": "agglomerative", "threshold": 3.0},
        {"method": "community", "threshold": 1.5},
        {"method": "community", "min_size": 0},
    ],
)
def test_bad_parameters_are_usage_errors_with_hints_or_reasons(kwargs):
    x, _ = blobs([10, 10])
    with pytest.raises(UsageError):
        cluster_embeddings(x, **kwargs)


def test_bad_embeddings_are_usage_errors():
    with pytest.raises(UsageError):
        cluster_embeddings(np.zeros((0, 4)))
    with pytest.raises(UsageError):
        cluster_embeddings(np.zeros(4))
    with pytest.raises(UsageError, match="at least 3"):
        cluster_embeddings(np.ones((2, 4)), k="auto")


def test_cosine_silhouette_equals_sklearn():
    from sklearn.metrics import silhouette_score

    x, truth = blobs([30, 20, 10, 1], noise=1.0)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    distances = 1 - unit.astype(np.float64) @ unit.T.astype(np.float64)
    assert cosine_silhouette(distances, truth) == pytest.approx(
        silhouette_score(unit, truth, metric="cosine"), abs=1e-6
    )


def test_cosine_silhouette_can_score_singletons_as_the_worst():
    x, truth = blobs([30, 20, 10, 1, 1], noise=1.0)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    distances = 1 - unit.astype(np.float64) @ unit.T.astype(np.float64)
    plain = cosine_silhouette(distances, truth)
    assert cosine_silhouette(distances, truth, singleton=-1.0) == pytest.approx(plain - 2 / len(x))


# ---------------------------------------------------------------- describing clusters

TEXTS = [
    "the cat chased a kitten",
    "my kitten says meow",
    "a cat and a kitten sleep",
    "cat food for the kitten",
    "stock prices fell on the market",
    "the market rallied as stock prices rose",
    "investors sold stock in a falling market",
    "bonds and stock markets",
    "random words nobody shares",
]
LABELS = np.array([0, 0, 0, 0, 1, 1, 1, 1, -1])


def test_ctfidf_keywords_describe_each_cluster():
    keywords = ctfidf_keywords(TEXTS, LABELS, top_n=3)
    assert set(keywords) == {0, 1}  # noise has no keywords
    assert keywords[0][:2] == ["kitten", "cat"]
    assert set(keywords[1][:2]) == {"stock", "market"}
    assert all("the" not in words for words in keywords.values())  # English stop words dropped


def test_ctfidf_weights_follow_the_bertopic_formula():
    keywords = ctfidf_keywords(["apple apple pear", "pear fig"], [0, 1], top_n=3, stop_words=None)
    # tf: class 0 apple 2/3, pear 1/3; class 1 pear 1/2, fig 1/2. A = 2.5 words per class.
    # idf: apple log(1 + 2.5/2), pear log(1 + 2.5/2), fig log(1 + 2.5/1): fig outranks pear in class 1.
    assert keywords == {0: ["apple", "pear"], 1: ["fig", "pear"]}


def test_ctfidf_with_only_stop_words_gives_empty_lists():
    assert ctfidf_keywords(["the a an", "of the"], [0, 1]) == {0: [], 1: []}


def test_representatives_are_nearest_the_centroid():
    x = np.array([[1.0, 0.0], [0.9, 0.1], [0.8, 0.6], [0.0, 1.0], [0.1, 1.0], [0.6, 0.8], [5.0, 5.0]])
    labels = np.array([0, 0, 0, 1, 1, 1, -1])
    reps = representatives(x, labels, n=2)
    assert reps == {0: [1, 0], 1: [4, 3]}


def test_summarize_clusters_records_in_cluster_order_noise_last():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(loc=5, size=(4, 8)), rng.normal(loc=-5, size=(4, 8)), rng.normal(size=(1, 8))])
    records = summarize_clusters(TEXTS, x, LABELS, top_n_keywords=2, n_representatives=2)
    assert [r["cluster"] for r in records] == [0, 1, -1]
    assert [r["size"] for r in records] == [4, 4, 1]
    assert set(records[0]) == {"cluster", "size", "keywords", "representatives"}
    assert records[0]["keywords"] == ["kitten", "cat"]
    assert len(records[0]["representatives"]) == 2 and set(records[0]["representatives"]) <= set(TEXTS[:4])
    assert records[-1]["keywords"] == [] and records[-1]["representatives"] == []


# ---------------------------------------------------------------- 2-D map


def test_project_2d_shape_and_seed():
    x, _ = blobs([20, 20])
    coords, method = project_2d(x, seed=1)
    assert coords.shape == (40, 2) and method in ("umap", "pca")
    again, _ = project_2d(x, seed=1)
    np.testing.assert_allclose(coords, again)
    tiny, _ = project_2d(x[:2])
    assert tiny.shape == (2, 2)


def test_plot_writes_a_png_atomically(tmp_path):
    pytest.importorskip("matplotlib")
    x, truth = blobs([20, 20])
    labels = truth.copy()
    labels[:3] = -1
    coords, _ = project_2d(x)
    out = tmp_path / "clusters.png"
    plot_clusters(coords, labels, out, title="test")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["clusters.png"]


def test_plot_failure_leaves_no_file(tmp_path):
    pytest.importorskip("matplotlib")
    with pytest.raises(UsageError):
        plot_clusters(np.zeros((3, 3)), [0, 0, 0], tmp_path / "bad.png")
    assert list(tmp_path.iterdir()) == []


def test_keyword_ties_go_to_the_words_of_central_texts() -> None:
    """Words that occur once weigh the same; the ones from the text nearest the centroid come first."""
    from nlu_toolkit.core.cluster import ctfidf_keywords, summarize_clusters

    texts = ["apple banana", "yak zebra", "cherry date", "other words here"]
    labels = [0, 0, 0, 1]
    assert ctfidf_keywords(texts, labels, top_n=2)[0] == ["apple", "banana"]  # alphabetical without centrality
    assert ctfidf_keywords(texts, labels, top_n=2, centrality=[0.1, 0.9, 0.2, 1.0])[0] == ["yak", "zebra"]
    vectors = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [-1.0, 0.0]])  # "yak zebra" is the central one
    summary = summarize_clusters(texts, vectors, labels, top_n_keywords=2)
    assert summary[0]["representatives"][0] == "yak zebra"
    assert summary[0]["keywords"] == ["yak", "zebra"]
