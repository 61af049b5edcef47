"""Extractive QA span decoding on start/end logits (SQuAD-style, with no-answer)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nlu_toolkit.core.pooling import softmax


@dataclass
class Span:
    score: float
    start_token: int
    end_token: int


def decode_window(
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    context_mask: np.ndarray,
    *,
    max_answer_len: int,
    top_k: int,
    null_index: int = 0,
) -> tuple[list[Span], float]:
    """Best answer spans of one window, and the window's no-answer score.

    Args:
        start_logits, end_logits: ``(seq_len,)`` logits of one window.
        context_mask: ``(seq_len,)`` bool, True on context tokens (answers may
            only start and end there).
        max_answer_len: longest answer in tokens.
        top_k: spans to return.
        null_index: index of the token whose start*end score is the no-answer
            score (the CLS token for BERT-style models).

    Returns:
        Up to ``top_k`` spans ordered by score (start prob * end prob, softmax over
        context tokens and the null token), and the null score.

    Memory is ``seq_len**2`` floats per window (147k for 384 tokens).
    """
    mask = np.asarray(context_mask, dtype=bool).copy()
    allowed = mask.copy()
    allowed[null_index] = True
    start = softmax(np.where(allowed, start_logits, -1e4))
    end = softmax(np.where(allowed, end_logits, -1e4))
    null_score = float(start[null_index] * end[null_index])
    start = np.where(mask, start, 0.0)
    end = np.where(mask, end, 0.0)
    outer = np.triu(np.outer(start, end)) - np.triu(np.outer(start, end), k=max_answer_len)
    flat = outer.ravel()
    k = min(top_k, int((flat > 0).sum()))
    if k == 0:
        return [], null_score
    best = np.argpartition(-flat, k - 1)[:k] if k < flat.size else np.arange(flat.size)
    best = best[np.argsort(-flat[best])][:k]
    spans = [Span(float(flat[i]), int(i // outer.shape[1]), int(i % outer.shape[1])) for i in best]
    return spans, null_score
