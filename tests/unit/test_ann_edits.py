"""`AnnIndex.replace` and `AnnIndex.delete`: keys stay the rows ``0..n-1`` of the vectors they hold."""

from __future__ import annotations

import numpy as np
import pytest

DIM = 16


@pytest.fixture
def ann():
    pytest.importorskip("usearch")
    from nlu_toolkit.search.ann import AnnIndex

    rows = np.random.default_rng(0).normal(size=(2000, DIM)).astype(np.float32)
    return AnnIndex.build(rows, threads=1), rows


def held(index, n: int) -> np.ndarray:
    return index._index.get(np.arange(n, dtype=np.uint64))


def test_delete_renumbers_the_later_rows(ann):
    index, rows = ann
    gone = np.random.default_rng(1).choice(len(rows), size=300, replace=False)
    index.delete(gone, len(rows))
    kept = np.delete(rows, gone, axis=0)
    assert len(index) == len(kept)
    np.testing.assert_allclose(held(index, len(kept)), kept, atol=1e-6)
    assert not index._index.contains(np.arange(len(kept), len(rows), dtype=np.uint64)).any()
    for row in (0, 17, len(kept) - 1):  # each vector is found under its new row
        assert index.search(kept[row], 1)[0][0][0] == row


def test_replace_gives_rows_new_vectors(ann):
    index, rows = ann
    fresh = np.random.default_rng(2).normal(size=(3, DIM)).astype(np.float32)
    index.replace(np.array([0, 5, 1999]), fresh)
    want = rows.copy()
    want[[0, 5, 1999]] = fresh
    assert len(index) == len(rows)
    np.testing.assert_allclose(held(index, len(rows)), want, atol=1e-6)
    assert [index.search(v, 1)[0][0][0] for v in fresh] == [0, 5, 1999]
