"""`cluster`, `dedupe`, `load_embeddings` and `ClusterResult.plot` on the tiny model and on
synthetic embeddings with a known answer (three well-separated directions)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nlu_toolkit.errors import InputError, UsageError
from nlu_toolkit.tasks.cluster import cluster, dedupe, load_embeddings
from nlu_toolkit.tasks.embed import embed

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def corpus(data_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (data_dir / "corpus.jsonl").read_text(encoding="utf-8").splitlines()]


def blobs(n_per: int = 12, dim: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three tight clusters around orthogonal directions, rows shuffled; returns (embeddings, truth)."""
    rng = np.random.default_rng(seed)
    truth = np.repeat(np.arange(3), n_per)
    centres = np.eye(dim, dtype=np.float32)[:3] * 5
    x = centres[truth] + rng.normal(scale=0.3, size=(len(truth), dim)).astype(np.float32)
    order = rng.permutation(len(truth))
    return x[order], truth[order]


def same_partition(labels: np.ndarray, truth: np.ndarray) -> bool:
    """True when ``labels`` and ``truth`` group the rows identically, whatever the cluster numbers."""
    pairs = set(zip(labels.tolist(), truth.tolist(), strict=True))
    return len(pairs) == len(set(labels.tolist())) == len(set(truth.tolist()))


def check_result(result, rows: list[dict] | None, n: int) -> None:
    """The record and summary contract shared by every method."""
    assert len(result.records) == n and result.labels.shape == (n,)
    assert [r["cluster"] for r in result.records] == result.labels.tolist()
    if rows is not None:
        assert [r["id"] for r in result.records] == [r["id"] for r in rows]
        assert [r["text"] for r in result.records] == [r["text"] for r in rows]
    else:
        assert [r["id"] for r in result.records] == list(range(n))
    assert result.labels.min() >= -1
    clusters = [c for c in result.summary if c["cluster"] >= 0]
    assert [c["cluster"] for c in clusters] == list(range(len(clusters)))
    assert sum(c["size"] for c in clusters) == int((result.labels >= 0).sum())
    sizes = [c["size"] for c in clusters]
    assert sizes == sorted(sizes, reverse=True)  # cluster 0 is the largest
    for c in result.summary:
        assert set(c) == {"cluster", "size", "keywords", "representatives"}
        assert c["size"] == int((result.labels == c["cluster"]).sum())
        if c["cluster"] >= 0 and rows is not None:
            members = {rows[i]["text"] for i in np.flatnonzero(result.labels == c["cluster"])}
            assert c["representatives"] and set(c["representatives"]) <= members
            assert all(isinstance(k, str) for k in c["keywords"])


@pytest.fixture(scope="module")
def rows(data_dir) -> list[dict]:
    return corpus(data_dir)


@pytest.fixture(scope="module")
def vectors(rows, st_model) -> np.ndarray:
    return embed(rows, st_model, normalize=True)[1]


def test_kmeans_with_k(rows, st_model):
    result = cluster(rows, st_model, method="kmeans", k=3)
    check_result(result, rows, 34)
    assert sorted(set(result.labels.tolist())) == [0, 1, 2]
    assert all(r["topic"] == row["topic"] for r, row in zip(result.records, rows, strict=True))  # passthrough
    assert all(c["keywords"] for c in result.summary)
    assert result.model_info is not None and result.embeddings.shape == (34, 32)


def test_kmeans_auto_k(rows, st_model):
    result = cluster(rows, st_model, method="kmeans", k="auto")
    check_result(result, rows, 34)
    assert 2 <= len(set(result.labels.tolist())) <= 20


def test_agglomerative_with_threshold_and_with_k(rows, st_model):
    by_threshold = cluster(rows, st_model, method="agglomerative", k=None, threshold=0.97)  # a cosine similarity
    check_result(by_threshold, rows, 34)
    assert len(set(by_threshold.labels.tolist())) > 3 and -1 not in by_threshold.labels
    by_k = cluster(rows, st_model, method="agglomerative", k=4)
    check_result(by_k, rows, 34)
    assert len(set(by_k.labels.tolist())) == 4


def test_community_with_threshold_and_min_size(rows, st_model, vectors):
    result = cluster(rows, st_model, method="community", k=None, threshold=0.97, min_size=3)
    check_result(result, rows, 34)
    assert (result.labels == -1).any() and (result.labels >= 0).any()
    assert result.summary[-1]["cluster"] == -1 and result.summary[-1]["keywords"] == []
    for c in result.summary[:-1]:
        assert c["size"] >= 3
    # Every member of a community is within the threshold of some other member (its centre).
    sims = vectors @ vectors.T
    for c in set(result.labels.tolist()) - {-1}:
        members = np.flatnonzero(result.labels == c)
        assert (sims[np.ix_(members, members)] >= 0.97 - 1e-5).sum(axis=1).min() >= 2


def test_hdbscan(rows, st_model):
    result = cluster(rows, st_model, method="hdbscan", k=None, min_size=2)
    check_result(result, rows, 34)


@pytest.mark.parametrize(
    ("method", "options"),
    [
        ("agglomerative", {}),
        ("community", {"threshold": 0.97, "min_size": 3}),
        ("hdbscan", {"min_size": 3}),
    ],
)
def test_methods_other_than_kmeans_work_with_the_default_k(rows, st_model, method, options):
    check_result(cluster(rows, st_model, method=method, **options), rows, 34)


@pytest.mark.parametrize(
    ("method", "options"),
    [
        ("kmeans", {"k": 3}),
        ("kmeans", {"k": "auto"}),
        ("agglomerative", {"k": None}),
        ("community", {"k": None, "threshold": 0.75, "min_size": 5}),
        ("hdbscan", {"k": None, "min_size": 5}),
    ],
)
def test_every_method_recovers_separated_clusters(method, options):
    x, truth = blobs()
    result = cluster(embeddings=x, method=method, **options)
    check_result(result, None, len(x))
    assert same_partition(result.labels, truth), result.labels
    assert result.model_info is None
    assert all(c["keywords"] == [] for c in result.summary)  # no texts, no keywords


def test_embeddings_with_texts_give_keywords_and_the_same_labels(rows, st_model, vectors):
    from_texts = cluster(rows, st_model, method="kmeans", k=3, seed=1)
    from_vectors = cluster(rows, embeddings=vectors, method="kmeans", k=3, seed=1)
    check_result(from_vectors, rows, 34)
    np.testing.assert_array_equal(from_vectors.labels, from_texts.labels)
    assert [c["keywords"] for c in from_vectors.summary] == [c["keywords"] for c in from_texts.summary]
    assert from_vectors.model_info is None


def test_embeddings_and_texts_must_align(rows, vectors):
    with pytest.raises(InputError):
        cluster(rows[:10], embeddings=vectors, method="kmeans", k=3)


def test_nothing_to_cluster():
    with pytest.raises(UsageError, match="nothing to cluster") as info:
        cluster(None, method="kmeans", k=3)
    assert info.value.params == ["inputs", "embeddings"]


@pytest.mark.parametrize(
    "options",
    [
        {"method": "spectral"},
        {"method": "kmeans", "k": 0},
        {"method": "kmeans", "k": 100},
        {"method": "kmeans", "k": 2.5},
    ],
)
def test_bad_parameters_are_usage_errors(vectors, options):
    with pytest.raises(UsageError):
        cluster(embeddings=vectors, **options)


def test_seed_makes_kmeans_repeatable(vectors):
    first = cluster(embeddings=vectors, method="kmeans", k="auto", seed=7)
    second = cluster(embeddings=vectors, method="kmeans", k="auto", seed=7)
    np.testing.assert_array_equal(first.labels, second.labels)
    assert first.summary == second.summary


def test_plot_writes_a_png_and_nothing_else(rows, st_model, tmp_path):
    result = cluster(rows, st_model, method="kmeans", k=3)
    out = tmp_path / "plots"
    out.mkdir()
    method = result.plot(out / "map.png", seed=0)
    assert method in ("umap", "pca")
    assert (out / "map.png").read_bytes()[:8] == PNG_MAGIC
    assert sorted(p.name for p in out.iterdir()) == ["map.png"]


def test_plot_names_clusters_by_their_summary_keywords(rows, st_model, tmp_path, monkeypatch):
    import nlu_toolkit.io.plots as plots

    drawn = {}
    real = plots.plot_clusters

    def spy(coords, labels, path, **kwargs):
        drawn.update(kwargs, figure=real(coords, labels, path, **kwargs))
        return drawn["figure"]

    monkeypatch.setattr(plots, "plot_clusters", spy)
    result = cluster(rows, st_model, method="community", threshold=0.97, min_size=3)
    result.plot(tmp_path / "map.png")
    expected = {c["cluster"]: c["keywords"] for c in result.summary if c["cluster"] >= 0}
    assert drawn["keywords"] == expected and all(expected.values())
    n_noise = int((result.labels == -1).sum())
    assert drawn["title"].startswith(f"{len(expected)} clusters, {n_noise} noise (")
    names = {t.get_text() for t in drawn["figure"].axes[0].texts}
    assert names == {f"{c}: {', '.join(words[:2])}" for c, words in expected.items()}


def test_plot_with_noise(tmp_path):
    x, _ = blobs()
    x = np.vstack([x, np.random.default_rng(1).normal(size=(4, x.shape[1])).astype(np.float32)])
    result = cluster(embeddings=x, method="community", k=None, threshold=0.9, min_size=5)
    assert (result.labels == -1).any()
    result.plot(tmp_path / "noise.png")
    assert (tmp_path / "noise.png").read_bytes()[:8] == PNG_MAGIC


def test_load_embeddings_npy_and_parquet(tmp_path, vectors):
    import pyarrow as pa
    import pyarrow.parquet as pq

    np.save(tmp_path / "x.npy", vectors)
    np.testing.assert_array_equal(load_embeddings(tmp_path / "x.npy"), vectors)
    table = pa.table({"id": list(range(len(vectors))), "embedding": vectors.tolist()})
    pq.write_table(table, tmp_path / "x.parquet")
    np.testing.assert_allclose(load_embeddings(tmp_path / "x.parquet"), vectors, atol=1e-7)
    ints = (vectors > 0).astype(np.uint8)
    np.save(tmp_path / "bits.npy", ints)
    loaded = load_embeddings(tmp_path / "bits.npy")
    assert loaded.dtype == np.float32 and loaded.shape == ints.shape


def test_load_embeddings_refuses_bad_files(tmp_path):
    with pytest.raises(InputError):
        load_embeddings(tmp_path / "missing.npy")
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    with pytest.raises(InputError):
        load_embeddings(tmp_path / "objects.npy")  # never unpickled
    np.save(tmp_path / "flat.npy", np.zeros(8, dtype=np.float32))
    with pytest.raises(InputError):
        load_embeddings(tmp_path / "flat.npy")
    (tmp_path / "junk.npy").write_bytes(b"not numpy at all")
    with pytest.raises(InputError):
        load_embeddings(tmp_path / "junk.npy")


def test_dedupe_finds_an_inserted_duplicate(rows, st_model):
    copy = [*rows, {"id": "dup-01", "text": rows[14]["text"], "topic": "politics"}]
    found = dedupe(copy, st_model, threshold=0.9999)
    assert found[0]["a_id"] == rows[14]["id"] and found[0]["b_id"] == "dup-01"
    assert found[0]["a"] == found[0]["b"] == rows[14]["text"]
    assert found[0]["score"] == pytest.approx(1.0, abs=1e-5)
    assert all(set(r) == {"score", "a_id", "b_id", "a", "b"} for r in found)
    scores = [r["score"] for r in found]
    assert scores == sorted(scores, reverse=True) and min(scores) >= 0.9999 - 1e-6


def test_dedupe_threshold_must_be_in_range(rows, st_model):
    with pytest.raises(UsageError, match=r"^threshold must be in \(0, 1\], got 0.0"):
        dedupe(rows, st_model, threshold=0.0)
    with pytest.raises(UsageError):
        dedupe(rows, st_model, threshold=1.5)


def test_cluster_and_dedupe_take_run_options(rows, st_model):
    from nlu_toolkit import RunOptions

    run = RunOptions(device="cpu", batch_size=2)
    by_run = cluster(rows, st_model, method="kmeans", k=3, run=run)
    by_keywords = cluster(rows, st_model, method="kmeans", k=3, device="cpu", batch_size=2)
    np.testing.assert_array_equal(by_run.labels, by_keywords.labels)
    assert dedupe(rows, st_model, threshold=0.95, run=run) == dedupe(rows, st_model, threshold=0.95, batch_size=2)
    with pytest.raises(UsageError, match="batch_size"):
        cluster(rows, st_model, batch_size=0)
    with pytest.raises(UsageError, match="unknown keyword 'batchsize'"):
        dedupe(rows, st_model, batchsize=2)
