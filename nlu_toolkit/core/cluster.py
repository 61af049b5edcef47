"""Clustering of embeddings, and what describes a cluster: keywords, representatives, a 2-D map.

Pure functions of ``embeddings`` (an ``(n, dim)`` float array) and texts. All
methods work on L2-normalised rows, so "distance" means cosine distance
throughout. Labels are an ``(n,)`` int array, ``-1`` for noise (rows in no
cluster), renumbered so cluster 0 is the largest.

scikit-learn, torch (community detection) and matplotlib are imported inside
the functions that need them, so importing this module stays cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from nlu_toolkit.core.finite import check_finite
from nlu_toolkit.errors import UsageError

METHODS = ("kmeans", "agglomerative", "community", "hdbscan")
Method = Literal["kmeans", "agglomerative", "community", "hdbscan"]

AGGLOMERATIVE_MAX_N = 20_000  # its distance matrix takes n**2 * 8 bytes: 3.2 GB at 20,000
AUTO_K_MAX = 20
AUTO_K_SAMPLE = 5_000
DEFAULT_THRESHOLDS = {"agglomerative": 0.5, "community": 0.75}  # cosine similarities, higher = tighter
DEFAULT_MIN_SIZES = {"community": 10, "hdbscan": 5}


def _unit_rows(embeddings: np.ndarray) -> np.ndarray:
    x = np.asarray(embeddings, dtype=np.float32)
    if x.ndim != 2 or len(x) == 0:
        raise UsageError(
            f"embeddings must be a non-empty (n, dim) array, got shape {x.shape}", "embed at least one text"
        )
    check_finite(x, "embeddings")
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def relabel_by_size(labels: np.ndarray) -> np.ndarray:
    """Renumber clusters so 0 is the largest, then 1, ...; equal sizes by first appearance. ``-1`` stays."""
    labels = np.asarray(labels)
    out = np.full(len(labels), -1, dtype=np.int64)
    clustered = labels >= 0
    ids, first, inverse, sizes = np.unique(
        labels[clustered], return_index=True, return_inverse=True, return_counts=True
    )
    rank = np.empty(len(ids), dtype=np.int64)
    rank[np.lexsort((first, -sizes))] = np.arange(len(ids))
    out[clustered] = rank[inverse]
    return out


def _similarity(method: str, threshold: float | None) -> float:
    """``threshold`` (a cosine similarity in [-1, 1]) or the method's default."""
    thr = DEFAULT_THRESHOLDS[method] if threshold is None else float(threshold)
    if not -1.0 <= thr <= 1.0:  # also NaN
        hint = "higher = tighter clusters; for topics try 0.3-0.5, for near-paraphrases 0.75-0.9"
        if method == "agglomerative" and 1.0 < thr <= 2.0:
            hint = f"it used to be a cosine distance here: distance {thr:g} is similarity {1.0 - thr:g}"
        raise UsageError(f"{{=threshold}} is a cosine similarity in [-1, 1] for every method, got {thr}", hint)
    return thr


def _check_int(name: str, value: object, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise UsageError(f"{name} must be an integer >= {low}, got {value!r}", f"use {name} >= {low}")
    if high is not None and value > high:
        raise UsageError(f"{name} must be at most {high} here, got {value}", f"use {name} <= {high}")
    return int(value)


def cluster_embeddings(
    embeddings: np.ndarray,
    *,
    method: Method = "kmeans",
    k: int | Literal["auto"] | None = None,
    threshold: float | None = None,
    min_size: int | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Cluster ``(n, dim)`` embeddings; return ``(n,)`` labels, ``-1`` for noise.

    Methods (all on cosine geometry; rows are L2-normalised first):

    ``threshold`` is a cosine similarity in ``[-1, 1]`` for every method that
    takes one (higher = tighter clusters).

    - ``kmeans``: ``k`` clusters (default ``"auto"``). ``"auto"`` tries k in
      ``2..min(20, n - 1)`` and keeps the best cosine silhouette in which a
      point alone in its cluster scores -1 (the worst) instead of 0, so a k
      that buys its score with singletons loses; scored on a seeded sample of
      at most 5,000 rows (silhouette is ``O(sample**2)``); the final model is
      fitted on all rows. Never noise.
    - ``agglomerative``: average linkage on cosine distance, cut into ``k``
      clusters, or merging clusters while their mean cosine similarity is
      above ``threshold`` (default 0.5; a cut at cosine distance ``1 - threshold``).
      Needs the full distance matrix, ``O(n**2)`` memory, so it refuses more
      than 20,000 rows. Never noise.
    - ``community``: `community_detection` (every member is at least
      ``threshold`` similar to the community's centre; default 0.75, for
      near-paraphrases: topics need about 0.3-0.5; ``min_size`` default 10);
      rows in no community are noise.
    - ``hdbscan``: scikit-learn's HDBSCAN with ``min_cluster_size=min_size``
      (default 5) on the unit vectors (Euclidean distance there is monotone in
      cosine distance); its noise is noise. Slow beyond ~20k rows at
      sentence-embedding dimensions.

    Labels are renumbered so cluster 0 is the largest. The same ``seed`` gives
    the same labels.

    Raises:
        UsageError: unknown method, a parameter the method does not take, or
            an out-of-range value.
    """
    if method not in METHODS:
        raise UsageError(f"unknown clustering method {method!r}", f"use one of: {', '.join(METHODS)}")
    x = _unit_rows(embeddings)
    n = len(x)
    if method in ("community", "hdbscan") and k is not None:
        raise UsageError(f"{method} finds the number of clusters itself; k does not apply", "drop k")
    if method in ("kmeans", "hdbscan") and threshold is not None:
        raise UsageError(f"{method} takes no threshold", "use k (kmeans) or min_size (hdbscan)")
    if method in ("kmeans", "agglomerative") and min_size is not None:
        raise UsageError(f"{method} takes no min_size", "use method='community' or 'hdbscan' to drop small clusters")

    if method == "kmeans":
        labels = _kmeans(x, "auto" if k is None else k, seed)
    elif method == "agglomerative":
        labels = _agglomerative(x, k, threshold)
    elif method == "community":
        thr = _similarity(method, threshold)
        size = _check_int("min_size", DEFAULT_MIN_SIZES["community"] if min_size is None else min_size, 1)
        from nlu_toolkit.core.retrieval import community_detection

        labels = np.full(n, -1, dtype=np.int64)
        for cid, members in enumerate(community_detection(x, threshold=thr, min_size=size)):
            labels[members] = cid
    else:
        size = _check_int("min_size", DEFAULT_MIN_SIZES["hdbscan"] if min_size is None else min_size, 2)
        if n < size:
            return np.full(n, -1, dtype=np.int64)
        from sklearn.cluster import HDBSCAN

        # HDBSCAN is deterministic: seed does not apply.
        labels = HDBSCAN(min_cluster_size=size, copy=True).fit_predict(x)
    return relabel_by_size(labels)


def _kmeans(x: np.ndarray, k: int | str, seed: int) -> np.ndarray:
    n = len(x)
    if k == "auto":
        if n < 3:
            raise UsageError(f"k='auto' needs at least 3 embeddings, got {n}", "give k explicitly")
        k = _auto_k(x, seed)
    else:
        k = _check_int("k", k, 1, n)
    return _fit_kmeans(x, k, seed)


def _fit_kmeans(x: np.ndarray, k: int, seed: int, *, n_init: int = 3) -> np.ndarray:
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    # scikit-learn's k-means runs OpenMP threads that each call BLAS; with a multi-threaded BLAS (and two
    # OpenBLAS copies, numpy's and scipy's) that nests threads and, on a busy machine, ran 5-20x slower.
    # One BLAS thread per OpenMP thread keeps all cores busy without oversubscribing them.
    # n_init=3 runs of k-means++: steadier than one, a third the time of sklearn's old default of 10.
    with threadpool_limits(limits=1, user_api="blas"):
        return KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit_predict(x)


def _auto_k(x: np.ndarray, seed: int) -> int:
    """The k in 2..min(20, n - 1) with the best cosine silhouette, on a seeded sample of at most 5,000 rows.

    Points alone in their cluster score -1 rather than silhouette's usual 0: on weakly clustered data
    (sentence embeddings of short texts score around 0.05-0.2) a 0 beats the average, so the plain
    silhouette rewarded k that split off singletons. Candidates are fitted with one k-means++ run each
    (the final fit uses three).
    """
    rng = np.random.default_rng(seed)
    sample = x if len(x) <= AUTO_K_SAMPLE else x[np.sort(rng.choice(len(x), AUTO_K_SAMPLE, replace=False))]
    distances = 1.0 - sample.astype(np.float64) @ sample.T.astype(np.float64)  # once for all k: 200 MB at 5,000
    best_k, best = 2, -np.inf
    for k in range(2, min(AUTO_K_MAX, len(sample) - 1) + 1):
        score = cosine_silhouette(distances, _fit_kmeans(sample, k, seed, n_init=1), singleton=-1.0)
        if score > best + 1e-9:  # ties keep the smaller k
            best_k, best = k, score
    return best_k


def cosine_silhouette(distances: np.ndarray, labels: np.ndarray, *, singleton: float = 0.0) -> float:
    """Mean silhouette from an ``(n, n)`` distance matrix, as ``sklearn.metrics.silhouette_score``.

    Per-cluster mean distances come from one ``distances @ one_hot`` product,
    so each k costs ``O(n**2 * k)`` with the matrix computed once, instead of
    scikit-learn recomputing pairwise distances for every k. Points alone in
    their cluster score ``singleton`` (scikit-learn's 0 by default); a single
    cluster scores -inf (never chosen).
    """
    ids, labels = np.unique(labels, return_inverse=True)
    if len(ids) < 2:
        return -np.inf
    one_hot = np.zeros((len(labels), len(ids)))
    one_hot[np.arange(len(labels)), labels] = 1.0
    sizes = one_hot.sum(axis=0)
    sums = distances @ one_hot  # (n, k): total distance from each point to each cluster
    own = sizes[labels]
    a = sums[np.arange(len(labels)), labels] / np.maximum(own - 1, 1)
    means = sums / sizes
    means[np.arange(len(labels)), labels] = np.inf
    b = means.min(axis=1)
    s = np.where(own > 1, (b - a) / np.maximum(np.maximum(a, b), 1e-12), singleton)
    return float(s.mean())


def _agglomerative(x: np.ndarray, k: int | str | None, threshold: float | None) -> np.ndarray:
    n = len(x)
    if n > AGGLOMERATIVE_MAX_N:
        raise UsageError(
            f"agglomerative clustering of {n:,} embeddings needs their {n:,} x {n:,} distance matrix "
            f"(O(n^2) memory, {n * n * 8 / 1e9:.0f} GB); it is limited to {AGGLOMERATIVE_MAX_N:,}",
            "use method='kmeans', 'community' or 'hdbscan', or cluster a sample",
        )
    if k is not None and threshold is not None:
        raise UsageError(
            "give either {=k} or {=threshold} for agglomerative clustering, not both",
            "{=k} cuts the tree into k clusters; {=threshold} cuts it at a cosine similarity",
        )
    if k == "auto":
        raise UsageError(
            "k='auto' is for kmeans", "give agglomerative a {=threshold} (cosine similarity) or an integer {=k}"
        )
    thr = _similarity("agglomerative", threshold) if k is None else None
    if n == 1:
        return np.zeros(1, dtype=np.int64)
    from sklearn.cluster import AgglomerativeClustering

    if k is not None:
        model = AgglomerativeClustering(n_clusters=_check_int("k", k, 1, n), metric="cosine", linkage="average")
    else:
        # Average linkage merges two clusters while their mean cosine distance is under the cut, i.e.
        # while their mean similarity is over the threshold.
        model = AgglomerativeClustering(
            n_clusters=None, distance_threshold=1.0 - thr, metric="cosine", linkage="average", compute_full_tree=True
        )
    return model.fit_predict(x)


# ---------------------------------------------------------------- describing clusters


def ctfidf_keywords(
    texts: Sequence[str],
    labels: Sequence[int] | np.ndarray,
    *,
    top_n: int = 5,
    stop_words: str | list[str] | None = "english",
    centrality: Sequence[float] | np.ndarray | None = None,
) -> dict[int, list[str]]:
    """Top ``top_n`` keywords per cluster by class-based TF-IDF (c-TF-IDF, as BERTopic).

    The texts of each cluster are joined into one document; a term's weight in
    cluster c is ``tf(t, c) * log(1 + A / f(t))`` where ``tf`` is the term's
    count in c divided by c's total word count, ``A`` the average word count
    per cluster and ``f(t)`` the term's count over all clusters. Noise (``-1``)
    is left out, both as a class and from the frequencies.

    ``centrality`` (one value per text, e.g. its cosine to its cluster's centroid) breaks ties:
    in a small cluster most words occur once and weigh the same, and the words of its most
    central texts describe it best. Without it, or among equal sums, ties are alphabetical.

    Returns:
        ``{cluster: [keyword, ...]}`` for every cluster id present, best first;
        empty lists when a cluster has no usable words.
    """
    from sklearn.feature_extraction.text import CountVectorizer

    labels = np.asarray(labels)
    if len(labels) != len(texts):
        raise UsageError(f"{len(texts)} texts but {len(labels)} labels", "give one label per text")
    clusters = sorted(int(c) for c in np.unique(labels) if c >= 0)
    if not clusters:
        return {}
    docs = [" ".join(str(texts[i]) for i in np.flatnonzero(labels == c)) for c in clusters]
    try:
        vectorizer = CountVectorizer(stop_words=stop_words)
        counts = vectorizer.fit_transform(docs).astype(np.float64).toarray()
    except ValueError:  # empty vocabulary: nothing but stop words or punctuation
        return {c: [] for c in clusters}
    terms = vectorizer.get_feature_names_out()
    words_per_class = counts.sum(axis=1)
    tf = counts / np.maximum(words_per_class, 1)[:, None]
    idf = np.log(1 + words_per_class.mean() / counts.sum(axis=0))
    weights = np.round(tf * idf, 12)  # equal weights compare equal, whatever the float rounding
    ties = np.zeros_like(weights)
    if centrality is not None:
        central = np.asarray(centrality, dtype=np.float64)
        present = (vectorizer.transform([str(t) for t in texts]) > 0).astype(np.float64)
        for row, c in enumerate(clusters):
            members = np.flatnonzero(labels == c)
            ties[row] = present[members].T @ central[members]
    result = {}
    for row, c in enumerate(clusters):
        nonzero = np.flatnonzero(weights[row] > 0)
        order = nonzero[np.lexsort((terms[nonzero], -ties[row, nonzero], -weights[row, nonzero]))][:top_n]
        result[c] = [str(t) for t in terms[order]]
    return result


def centrality(embeddings: np.ndarray, labels: Sequence[int] | np.ndarray) -> np.ndarray:
    """``(n,)`` each text's cosine to its cluster's centroid (0 for noise)."""
    x = _unit_rows(embeddings)
    labels = np.asarray(labels)
    result = np.zeros(len(x))
    for c in (int(c) for c in np.unique(labels) if c >= 0):
        members = np.flatnonzero(labels == c)
        centroid = x[members].mean(axis=0)
        result[members] = x[members] @ (centroid / max(float(np.linalg.norm(centroid)), 1e-12))
    return result


def representatives(embeddings: np.ndarray, labels: Sequence[int] | np.ndarray, *, n: int = 3) -> dict[int, list[int]]:
    """Indices of the ``n`` members closest (cosine) to each cluster's centroid, closest first.

    The centroid is the mean of the cluster's unit vectors; ties go to the
    lower index. Noise (``-1``) is left out.
    """
    labels = np.asarray(labels)
    if len(labels) != len(embeddings):
        raise UsageError(f"{len(embeddings)} embeddings but {len(labels)} labels", "give one label per embedding")
    _check_int("n", n, 1)
    central = centrality(embeddings, labels)
    result = {}
    for c in sorted(int(c) for c in np.unique(labels) if c >= 0):
        members = np.flatnonzero(labels == c)
        result[c] = members[np.lexsort((members, -central[members]))][:n].tolist()
    return result


def summarize_clusters(
    texts: Sequence[str],
    embeddings: np.ndarray,
    labels: Sequence[int] | np.ndarray,
    *,
    top_n_keywords: int = 5,
    n_representatives: int = 3,
) -> list[dict[str, object]]:
    """One record per cluster, ``{"cluster", "size", "keywords", "representatives"}``.

    ``representatives`` are the texts nearest the centroid. Records are ordered
    by cluster id; noise (``-1``), if any, comes last with no keywords or
    representatives.
    """
    labels = np.asarray(labels)
    keywords = ctfidf_keywords(texts, labels, top_n=top_n_keywords, centrality=centrality(embeddings, labels))
    reps = representatives(embeddings, labels, n=n_representatives)
    records: list[dict[str, object]] = [
        {
            "cluster": c,
            "size": int((labels == c).sum()),
            "keywords": keywords[c],
            "representatives": [texts[i] for i in reps[c]],
        }
        for c in sorted(reps)
    ]
    n_noise = int((labels == -1).sum())
    if n_noise:
        records.append({"cluster": -1, "size": n_noise, "keywords": [], "representatives": []})
    return records


# ---------------------------------------------------------------- 2-D map


def project_2d(embeddings: np.ndarray, *, seed: int = 0) -> tuple[np.ndarray, str]:
    """``(n, 2)`` coordinates for a scatter plot, and the method used: ``"umap"`` if installed, else ``"pca"``.

    UMAP (cosine metric) keeps local neighbourhoods and so shows clusters
    better; PCA is the dependency-free fallback. Both are seeded.
    """
    x = _unit_rows(embeddings)
    n = len(x)
    if n < 3:  # neither method is defined on fewer points; place them on a line
        return np.column_stack([np.arange(n, dtype=np.float32), np.zeros(n, dtype=np.float32)]), "pca"
    try:
        import umap  # type: ignore[import-not-found]
    except ImportError:
        umap = None
    if umap is not None and n > 10:
        reducer = umap.UMAP(n_components=2, metric="cosine", n_neighbors=min(15, n - 1), random_state=seed)
        return np.asarray(reducer.fit_transform(x), dtype=np.float32), "umap"
    from sklearn.decomposition import PCA

    coords = PCA(n_components=2, random_state=seed).fit_transform(x)
    return np.asarray(coords, dtype=np.float32), "pca"
