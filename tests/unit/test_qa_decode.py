"""Unit tests for nlu_toolkit.core.qa.decode_window on crafted logits."""

from __future__ import annotations

import numpy as np
import pytest

from nlu_toolkit.core.pooling import softmax
from nlu_toolkit.core.qa import Span, decode_window

# [CLS] q q [SEP] c0 c1 c2 c3 c4 c5 [SEP]
SEQ = 11
CONTEXT = np.array([False, False, False, False, True, True, True, True, True, True, False])


def logits(peaks: dict[int, float], base: float = 0.0, n: int = SEQ) -> np.ndarray:
    x = np.full(n, base)
    for i, v in peaks.items():
        x[i] = v
    return x


def brute_force(start_logits, end_logits, mask, max_len, null_index=0):
    allowed = mask.copy()
    allowed[null_index] = True
    sp = softmax(np.where(allowed, start_logits, -1e4))
    ep = softmax(np.where(allowed, end_logits, -1e4))
    spans = [
        (sp[i] * ep[j], i, j)
        for i in range(len(mask))
        for j in range(i, min(len(mask), i + max_len))
        if mask[i] and mask[j]
    ]
    return sorted(spans, reverse=True), sp[null_index] * ep[null_index]


def test_best_span_found():
    spans, _ = decode_window(logits({5: 8.0}), logits({7: 8.0}), CONTEXT, max_answer_len=10, top_k=1)
    assert len(spans) == 1
    assert isinstance(spans[0], Span)
    assert (spans[0].start_token, spans[0].end_token) == (5, 7)
    assert 0.0 < spans[0].score <= 1.0


def test_single_token_answer():
    spans, _ = decode_window(logits({6: 9.0}), logits({6: 9.0}), CONTEXT, max_answer_len=5, top_k=1)
    assert (spans[0].start_token, spans[0].end_token) == (6, 6)


def test_end_before_start_never_returned():
    # the highest end logit is before the highest start logit: that pair is invalid
    spans, _ = decode_window(logits({7: 9.0, 5: 2.0}), logits({5: 9.0, 8: 3.0}), CONTEXT, max_answer_len=10, top_k=20)
    assert spans
    assert all(s.end_token >= s.start_token for s in spans)
    assert (spans[0].start_token, spans[0].end_token) == (7, 8)


def test_spans_never_include_non_context_tokens():
    # the question tokens, the SEPs and CLS carry the highest logits
    start = logits({1: 20.0, 2: 15.0, 3: 12.0, 10: 18.0, 0: 10.0, 6: 1.0})
    end = logits({2: 20.0, 3: 15.0, 10: 18.0, 0: 10.0, 8: 1.0})
    spans, _ = decode_window(start, end, CONTEXT, max_answer_len=30, top_k=50)
    assert spans
    for s in spans:
        assert CONTEXT[s.start_token] and CONTEXT[s.end_token]
        assert all(CONTEXT[s.start_token : s.end_token + 1])
    assert (spans[0].start_token, spans[0].end_token) == (6, 8)


@pytest.mark.parametrize("max_len", [1, 2, 3, 6])
def test_max_answer_len_respected(max_len):
    # the best unconstrained span is 4..9 (6 tokens)
    start, end = logits({4: 8.0, 6: 4.0}), logits({9: 8.0, 7: 4.0})
    spans, _ = decode_window(start, end, CONTEXT, max_answer_len=max_len, top_k=100)
    assert spans
    assert all(s.end_token - s.start_token + 1 <= max_len for s in spans)
    expected, _ = brute_force(start, end, CONTEXT, max_len)
    assert {(s.start_token, s.end_token) for s in spans} == {e[1:] for e in expected}
    assert spans[0].score == pytest.approx(expected[0][0])
    if max_len == 6:
        assert (spans[0].start_token, spans[0].end_token) == (4, 9)


def test_top_k_ordering_and_count():
    rng = np.random.default_rng(0)
    start, end = rng.normal(size=SEQ) * 3, rng.normal(size=SEQ) * 3
    spans, _ = decode_window(start, end, CONTEXT, max_answer_len=4, top_k=5)
    assert len(spans) == 5
    scores = [s.score for s in spans]
    assert scores == sorted(scores, reverse=True)
    expected, _ = brute_force(start, end, CONTEXT, 4)
    assert [(s.start_token, s.end_token) for s in spans] == [e[1:] for e in expected[:5]]
    np.testing.assert_allclose(scores, [e[0] for e in expected[:5]])


def test_top_k_larger_than_candidates():
    start, end = logits({5: 2.0}), logits({5: 2.0})
    spans, _ = decode_window(start, end, CONTEXT, max_answer_len=2, top_k=1000)
    n_context = int(CONTEXT.sum())
    assert len(spans) == n_context + (n_context - 1)  # length 1 and length 2 spans
    assert len({(s.start_token, s.end_token) for s in spans}) == len(spans)


@pytest.mark.parametrize("seed", range(10))
def test_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(8, 40))
    mask = rng.random(n) > 0.4
    mask[0] = False
    mask[int(rng.integers(1, n))] = True
    start, end = rng.normal(size=n) * 4, rng.normal(size=n) * 4
    max_len = int(rng.integers(1, 10))
    spans, null = decode_window(start, end, mask, max_answer_len=max_len, top_k=7)
    expected, expected_null = brute_force(start, end, mask, max_len)
    assert len(spans) == min(7, len(expected))
    np.testing.assert_allclose([s.score for s in spans], [e[0] for e in expected[: len(spans)]])
    assert null == pytest.approx(expected_null)


def test_null_score_is_product_of_cls_probs():
    start = logits({0: 3.0, 5: 2.0, 6: 1.0})
    end = logits({0: 2.5, 7: 2.0})
    spans, null = decode_window(start, end, CONTEXT, max_answer_len=10, top_k=3)
    allowed = CONTEXT.copy()
    allowed[0] = True
    sp = np.exp(start[allowed]) / np.exp(start[allowed]).sum()
    ep = np.exp(end[allowed]) / np.exp(end[allowed]).sum()
    assert null == pytest.approx(float(sp[0] * ep[0]))
    assert isinstance(null, float)
    # CLS is never part of an answer
    assert all(s.start_token != 0 for s in spans)


def test_null_index_elsewhere():
    mask = np.array([True, True, True, False])
    start = np.array([1.0, 0.0, 0.0, 5.0])
    end = np.array([0.0, 1.0, 0.0, 5.0])
    spans, null = decode_window(start, end, mask, max_answer_len=3, top_k=10, null_index=3)
    sp, ep = softmax(start), softmax(end)
    assert null == pytest.approx(sp[3] * ep[3])
    assert all(s.start_token != 3 and s.end_token != 3 for s in spans)


def test_confident_no_answer_dominates():
    spans, null = decode_window(logits({0: 20.0}), logits({0: 20.0}), CONTEXT, max_answer_len=5, top_k=1)
    assert null > 0.99
    assert spans[0].score < 0.01


def test_span_scores_are_probabilities():
    rng = np.random.default_rng(3)
    spans, null = decode_window(rng.normal(size=SEQ), rng.normal(size=SEQ), CONTEXT, max_answer_len=SEQ, top_k=1000)
    # sum over all valid (i <= j) pairs plus the null can not exceed the total mass of 1
    assert 0 < sum(s.score for s in spans) + null <= 1.0 + 1e-9


def test_no_context_tokens_gives_no_spans():
    mask = np.zeros(SEQ, dtype=bool)
    spans, null = decode_window(np.zeros(SEQ), np.zeros(SEQ), mask, max_answer_len=5, top_k=3)
    assert spans == []
    assert null == pytest.approx(1.0)


def test_context_mask_not_modified():
    mask = CONTEXT.copy()
    decode_window(np.zeros(SEQ), np.zeros(SEQ), mask, max_answer_len=5, top_k=3)
    np.testing.assert_array_equal(mask, CONTEXT)
