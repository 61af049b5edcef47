"""Unit tests for nlu_toolkit.search.ann (the usearch-backed approximate index, ``ann`` extra)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from nlu_toolkit.core.retrieval import semantic_search
from nlu_toolkit.errors import IndexCorrupted, MissingExtra, ModelMismatch, UsageError

DIM = 64


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.normal(size=(5000, DIM)).astype(np.float32), rng.normal(size=(100, DIM)).astype(np.float32)


@pytest.fixture(scope="module")
def index(data):
    pytest.importorskip("usearch")
    from nlu_toolkit.search.ann import AnnIndex

    return AnnIndex.build(data[0], expansion_search=256)


def recall(hits, truth) -> float:
    return float(
        np.mean([len({i for i, _ in a} & {i for i, _ in b}) / len(b) for a, b in zip(hits, truth, strict=True)])
    )


def test_recall_at_10_against_exact_search(index, data):
    corpus, queries = data
    hits = index.search(queries, 10)
    assert recall(hits, semantic_search(queries, corpus, top_k=10)) >= 0.95


def test_keys_are_row_indices_and_scores_are_cosines(index, data):
    corpus, _ = data
    hits = index.search(corpus[[17, 4321]], 3)
    assert [h[0][0] for h in hits] == [17, 4321]
    exact = semantic_search(corpus[[17]], corpus, top_k=3)[0]
    for (key, score), (exact_key, exact_score) in zip(hits[0], exact, strict=True):
        assert key == exact_key
        assert score == pytest.approx(exact_score, abs=1e-5)
    scores = [s for _, s in hits[1]]
    assert scores == sorted(scores, reverse=True)


def test_add_continues_the_keys(data):
    pytest.importorskip("usearch")
    from nlu_toolkit.search.ann import AnnIndex

    corpus, _ = data
    index = AnnIndex.build(corpus[:100])
    index.add(corpus[100:150])  # keys 100..149
    assert len(index) == 150
    assert index.search(corpus[120], 1)[0][0][0] == 120
    index.add(corpus[200:210], start_key=200)
    assert index.search(corpus[205], 1)[0][0][0] == 205
    with pytest.raises(UsageError, match="overlap"):
        index.add(corpus[:5], start_key=0)


def test_save_and_load_round_trip(index, data, tmp_path):
    from nlu_toolkit.search.ann import AnnIndex

    _, queries = data
    path = tmp_path / "corpus.usearch"
    index.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["corpus.usearch"]  # no temp file left
    loaded = AnnIndex.load(path, DIM, expansion_search=256)
    assert len(loaded) == len(index)
    assert [[k for k, _ in h] for h in loaded.search(queries[:10], 5)] == [
        [k for k, _ in h] for h in index.search(queries[:10], 5)
    ]


def test_load_errors(index, tmp_path):
    from nlu_toolkit.search.ann import AnnIndex

    path = tmp_path / "corpus.usearch"
    index.save(path)
    with pytest.raises(ModelMismatch):
        AnnIndex.load(path, DIM * 2)
    broken = tmp_path / "broken.usearch"
    broken.write_bytes(b"not an index" * 10)
    with pytest.raises(IndexCorrupted):
        AnnIndex.load(broken, DIM)
    with pytest.raises(IndexCorrupted):
        AnnIndex.load(tmp_path / "missing.usearch", DIM)


def test_small_index_returns_what_it_has(data):
    pytest.importorskip("usearch")
    from nlu_toolkit.search.ann import AnnIndex

    corpus, queries = data
    hits = AnnIndex.build(corpus[:3]).search(queries[:2], 10)
    assert [sorted(k for k, _ in h) for h in hits] == [[0, 1, 2], [0, 1, 2]]


def test_bad_parameters(data):
    pytest.importorskip("usearch")
    from nlu_toolkit.search.ann import AnnIndex

    corpus, _ = data
    with pytest.raises(UsageError):
        AnnIndex(DIM, metric="l2")
    with pytest.raises(UsageError):
        AnnIndex(DIM, connectivity=0)
    index = AnnIndex.build(corpus[:10])
    with pytest.raises(UsageError):
        index.search(corpus[:1, :10], 3)
    with pytest.raises(UsageError):
        index.search(corpus[:1], 0)


def test_missing_usearch_names_the_extra(monkeypatch):
    # None in sys.modules makes any import of the name raise ImportError, as if it were not installed.
    monkeypatch.setitem(sys.modules, "usearch", None)
    monkeypatch.setitem(sys.modules, "usearch.index", None)
    from nlu_toolkit.search.ann import AnnIndex

    with pytest.raises(MissingExtra, match="usearch") as info:
        AnnIndex(DIM)
    assert "nlu-toolkit[ann]" in info.value.hint


def test_saved_index_gets_the_umask_mode_not_mkstemps_0600(index, tmp_path):
    import os

    umask = os.umask(0o022)
    try:
        path = tmp_path / "corpus.usearch"
        index.save(path)
        assert path.stat().st_mode & 0o777 == 0o644
    finally:
        os.umask(umask)
