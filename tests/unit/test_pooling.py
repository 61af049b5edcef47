"""Unit tests for nlu_toolkit.core.pooling."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from nlu_toolkit.core.pooling import pool_windows, sigmoid, softmax


def test_softmax_rows_sum_to_one_and_preserve_order():
    x = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    p = softmax(x)
    np.testing.assert_allclose(p.sum(axis=-1), [1.0, 1.0])
    assert list(np.argsort(p[0])) == [0, 1, 2]
    np.testing.assert_allclose(p[1], [1 / 3] * 3)


def test_softmax_known_values():
    p = softmax(np.array([0.0, np.log(3.0)]))
    np.testing.assert_allclose(p, [0.25, 0.75])


def test_softmax_is_shift_invariant_and_stable():
    x = np.array([1000.0, 1001.0, 1002.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p = softmax(x)
    np.testing.assert_allclose(p, softmax(x - 1000.0))
    assert np.all(np.isfinite(p))


def test_softmax_axis():
    x = np.array([[1.0, 5.0], [3.0, 5.0]])
    p = softmax(x, axis=0)
    np.testing.assert_allclose(p.sum(axis=0), [1.0, 1.0])
    np.testing.assert_allclose(p[:, 1], [0.5, 0.5])


def test_sigmoid_values():
    np.testing.assert_allclose(sigmoid(np.array([0.0])), [0.5])
    np.testing.assert_allclose(sigmoid(np.array([np.log(3.0)])), [0.75])
    x = np.array([-3.0, -0.5, 0.5, 3.0])
    np.testing.assert_allclose(sigmoid(x) + sigmoid(-x), 1.0)


def test_sigmoid_extremes_are_correct():
    with np.errstate(over="ignore"):
        out = sigmoid(np.array([-1000.0, 1000.0]))
    np.testing.assert_allclose(out, [0.0, 1.0])


def test_sigmoid_no_overflow_warning_on_float32_logits():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = sigmoid(np.array([-100.0, 100.0], dtype=np.float32))
    np.testing.assert_allclose(out, [0.0, 1.0], atol=1e-30)


def test_pool_windows_equal_weights():
    scores = np.array([[1.0, 0.0], [0.0, 1.0], [0.2, 0.8]])
    out = pool_windows(scores, [0, 0, 1], 2)
    np.testing.assert_allclose(out, [[0.5, 0.5], [0.2, 0.8]])


def test_pool_windows_weighted_mean():
    scores = np.array([[1.0, 0.0], [0.0, 1.0], [0.4, 0.6]])
    out = pool_windows(scores, [0, 0, 1], 2, weights=[3, 1, 5])
    np.testing.assert_allclose(out, [[0.75, 0.25], [0.4, 0.6]])


def test_pool_windows_unordered_samples():
    scores = np.array([[2.0], [10.0], [4.0], [20.0]])
    out = pool_windows(scores, [1, 0, 1, 0], 2)
    np.testing.assert_allclose(out, [[15.0], [3.0]])


def test_pool_windows_single_window_per_sample_is_identity():
    scores = np.random.default_rng(0).random((4, 3))
    np.testing.assert_allclose(pool_windows(scores, [0, 1, 2, 3], 4), scores)


def test_pool_windows_probabilities_stay_normalised():
    rng = np.random.default_rng(1)
    scores = softmax(rng.normal(size=(6, 4)))
    out = pool_windows(scores, [0, 0, 0, 1, 2, 2], 3, weights=[1, 2, 3, 1, 7, 1])
    np.testing.assert_allclose(out.sum(axis=1), 1.0)
    assert out.shape == (3, 4)


def test_pool_windows_sample_without_window_is_error():
    with pytest.raises(ValueError, match="at least one window"):
        pool_windows(np.ones((2, 2)), [0, 2], 3)


def test_pool_windows_zero_weight_sample_is_error():
    with pytest.raises(ValueError):
        pool_windows(np.ones((2, 2)), [0, 1], 2, weights=[1.0, 0.0])
