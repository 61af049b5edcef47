"""Contrastive pairs from a few labelled texts, as SetFit makes them (its ``ContrastiveDataset``).

Every unordered pair of examples, each example with itself included, is positive (1.0) when the two share
their class (multi-label: at least one label) and negative (0.0) otherwise. The pairs are shuffled with
``seed``; then positives and negatives are taken in turn until each kind reaches its count, cycling
through the rarer kind (oversampling):

- default: as many of each as the more numerous kind has (SetFit's default, ``sampling_strategy="oversampling"``);
- ``num_iterations=I``: ``I * n`` of each, n the number of examples (SetFit's ``num_iterations``);
- ``pairs_per_example=P``: ``P * n`` pairs in all, half of each kind.

Eight examples for each of two classes give 72 positive and 64 negative pairs, so 144 pairs by default.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any

Label = int | frozenset[int]


def contrastive_pairs(
    texts: Sequence[str],
    labels: Sequence[Any],
    *,
    seed: int = 42,
    num_iterations: int | None = None,
    pairs_per_example: int | None = None,
) -> list[tuple[str, str, float]]:
    """``(text_a, text_b, 1.0 | 0.0)`` pairs; ``labels`` are class ids, or multi-hot rows for multi-label."""
    if len(texts) != len(labels):
        raise ValueError("texts and labels differ in length")
    keys = [_key(label) for label in labels]
    positive: list[tuple[str, str, float]] = []
    negative: list[tuple[str, str, float]] = []
    order = [(i, j) for i in range(len(texts)) for j in range(i, len(texts))]
    random.Random(seed).shuffle(order)
    for i, j in order:
        same = _share(keys[i], keys[j])
        (positive if same else negative).append((texts[i], texts[j], 1.0 if same else 0.0))
    if not negative:
        return positive  # one class only: the caller refuses it before training
    n = len(texts)
    if num_iterations is not None:
        each = num_iterations * n
    elif pairs_per_example is not None:
        each = math.ceil(pairs_per_example * n / 2)
    else:
        each = max(len(positive), len(negative))
    pairs: list[tuple[str, str, float]] = []
    for k in range(each):
        pairs.append(positive[k % len(positive)])
        pairs.append(negative[k % len(negative)])
    return pairs


def _key(label: Any) -> Label:
    values = label.tolist() if hasattr(label, "tolist") else label  # numpy rows and scalars
    if isinstance(values, (list, tuple)):
        return frozenset(i for i, v in enumerate(values) if float(v) > 0.5)
    return int(values)


def _share(a: Label, b: Label) -> bool:
    if isinstance(a, frozenset):
        return bool(a & b)  # type: ignore[operator]
    return a == b
