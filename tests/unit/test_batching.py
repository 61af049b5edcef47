"""Unit tests for nlu_toolkit.engine.batching."""

from __future__ import annotations

import numpy as np
import pytest

from nlu_toolkit.engine.batching import chunked, length_sorted_batches, pad_features, run_sorted


def test_chunked_sizes():
    assert list(chunked(range(7), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(chunked(range(6), 3)) == [[0, 1, 2], [3, 4, 5]]
    assert list(chunked([], 3)) == []
    assert list(chunked("ab", 10)) == [["a", "b"]]


def test_chunked_is_lazy():
    pulled = []

    def source():
        for i in range(1_000_000):
            pulled.append(i)
            yield i

    it = chunked(source(), 4)
    assert next(it) == [0, 1, 2, 3]
    assert len(pulled) <= 5


def test_chunked_infinite_source():
    def forever():
        i = 0
        while True:
            yield i
            i += 1

    it = chunked(forever(), 2)
    assert next(it) == [0, 1]
    assert next(it) == [2, 3]


def test_length_sorted_batches_longest_first_covers_all():
    lengths = [5, 1, 9, 3, 9, 2, 7]
    batches = length_sorted_batches(lengths, 3)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(len(lengths)))
    assert [len(b) for b in batches] == [3, 3, 1]
    assert [lengths[i] for i in flat] == sorted(lengths, reverse=True)
    assert lengths[batches[0][0]] == max(lengths)


def test_length_sorted_batches_stable_on_ties():
    assert length_sorted_batches([4, 4, 4, 4], 2) == [[0, 1], [2, 3]]


@pytest.mark.parametrize("batch_size", [1, 2, 5, 100])
def test_length_sorted_batches_random(batch_size):
    rng = np.random.default_rng(batch_size)
    lengths = list(rng.integers(1, 50, size=37))
    batches = length_sorted_batches(lengths, batch_size)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(37))
    assert all(len(b) <= batch_size for b in batches)
    assert all(len(b) == batch_size for b in batches[:-1])
    maxes = [max(lengths[i] for i in b) for b in batches]
    assert maxes == sorted(maxes, reverse=True)


def test_length_sorted_batches_empty():
    assert length_sorted_batches([], 4) == []


def test_pad_features_shapes_and_values():
    features = [
        {"input_ids": [101, 7, 102], "attention_mask": [1, 1, 1], "token_type_ids": [0, 0, 0], "offsets": [1]},
        {"input_ids": [101, 102], "attention_mask": [1, 1], "token_type_ids": [0, 1]},
        {"input_ids": [101, 8, 9, 10, 102], "attention_mask": [1, 1, 1, 1, 1], "token_type_ids": [0, 0, 1, 1, 1]},
    ]
    out = pad_features(features, pad_id=99)
    assert set(out) == {"input_ids", "attention_mask", "token_type_ids"}
    for arr in out.values():
        assert arr.shape == (3, 5)
        assert arr.dtype == np.int64
    np.testing.assert_array_equal(
        out["input_ids"], [[101, 7, 102, 99, 99], [101, 102, 99, 99, 99], [101, 8, 9, 10, 102]]
    )
    np.testing.assert_array_equal(out["attention_mask"], [[1, 1, 1, 0, 0], [1, 1, 0, 0, 0], [1, 1, 1, 1, 1]])
    np.testing.assert_array_equal(out["token_type_ids"], [[0, 0, 0, 0, 0], [0, 1, 0, 0, 0], [0, 0, 1, 1, 1]])


def test_pad_features_builds_attention_mask_when_missing():
    out = pad_features([{"input_ids": [5, 6]}, {"input_ids": [5, 6, 7, 8]}], pad_id=0)
    assert set(out) == {"input_ids", "attention_mask"}
    np.testing.assert_array_equal(out["input_ids"], [[5, 6, 0, 0], [5, 6, 7, 8]])
    np.testing.assert_array_equal(out["attention_mask"], [[1, 1, 0, 0], [1, 1, 1, 1]])


def test_pad_features_same_length_no_padding():
    out = pad_features([{"input_ids": [1, 2]}, {"input_ids": [3, 4]}], pad_id=0)
    np.testing.assert_array_equal(out["input_ids"], [[1, 2], [3, 4]])
    np.testing.assert_array_equal(out["attention_mask"], [[1, 1], [1, 1]])


def test_run_sorted_restores_input_order():
    features = [{"input_ids": list(range(n))} for n in (3, 8, 1, 5, 8, 2, 6)]
    seen_batches = []

    def forward(batch):
        seen_batches.append(batch["input_ids"].shape)
        # one output per row: the row's real length (from the mask) and its first padded width
        return [(int(m.sum()), batch["input_ids"].shape[1]) for m in batch["attention_mask"]]

    results = run_sorted(features, forward, batch_size=3, pad_id=0)
    assert [r[0] for r in results] == [3, 8, 1, 5, 8, 2, 6]
    # longest batch first, and each batch is padded only to its own longest member
    assert seen_batches == [(3, 8), (3, 5), (1, 1)]
    for r in results:
        assert r[1] >= r[0]


def test_run_sorted_with_array_outputs():
    features = [{"input_ids": [1] * n} for n in (2, 4, 3)]

    def forward(batch):
        return batch["attention_mask"].sum(axis=1, keepdims=True).astype(float) * 10

    results = run_sorted(features, forward, batch_size=2, pad_id=0)
    np.testing.assert_array_equal(np.stack(results), [[20.0], [40.0], [30.0]])


def test_run_sorted_empty():
    def forward(batch):
        raise AssertionError("forward must not be called")

    assert run_sorted([], forward, batch_size=4, pad_id=0) == []
