"""Length-sorted batching: windows of records in, padded tensor batches out.

Records are gathered into windows (1,024 by default) so memory is bounded by the
window, not the input. Inside a window, features are sorted by token length and
cut into batches, so padding is minimal; outputs are put back in input order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice
from typing import Any, TypeVar

import numpy as np

from nlu_toolkit.engine.meter import count_tokens

T = TypeVar("T")

#: Records collected before sorting and batching; bounds memory on any input size.
WINDOW = 1024


def chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Yield lists of up to ``size`` items, lazily."""
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of similar length, longest first.

    Longest first means an out-of-memory batch fails at once, not after an hour.
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def pad_features(features: Sequence[dict[str, Sequence[int]]], pad_id: int) -> dict[str, np.ndarray]:
    """Right-pad ``input_ids`` (with ``pad_id``), ``attention_mask`` and ``token_type_ids`` to one length."""
    width = max(len(f["input_ids"]) for f in features)
    out: dict[str, np.ndarray] = {}
    for key in features[0]:
        if key not in ("input_ids", "attention_mask", "token_type_ids"):
            continue
        fill = pad_id if key == "input_ids" else 0
        arr = np.full((len(features), width), fill, dtype=np.int64)
        for row, f in enumerate(features):
            arr[row, : len(f[key])] = f[key]
        out[key] = arr
    if "attention_mask" not in out:
        mask = np.zeros((len(features), width), dtype=np.int64)
        for row, f in enumerate(features):
            mask[row, : len(f["input_ids"])] = 1
        out["attention_mask"] = mask
    return out


def run_sorted(
    features: Sequence[dict[str, Sequence[int]]],
    forward: Callable[[dict[str, np.ndarray]], Any],
    *,
    batch_size: int,
    pad_id: int,
) -> list[Any]:
    """Run ``forward`` over length-sorted padded batches; return one output per feature, in order.

    ``forward`` takes a dict of padded int64 arrays and returns a sequence (or
    array) with one row per batch row.
    """
    results: list[Any] = [None] * len(features)
    lengths = [len(f["input_ids"]) for f in features]
    count_tokens(sum(lengths))  # for a caller's `meter.token_meter` (the server's metrics); no second tokenization
    for batch in length_sorted_batches(lengths, batch_size):
        outputs = forward(pad_features([features[i] for i in batch], pad_id))
        for row, i in enumerate(batch):
            results[i] = outputs[row]
    return results


def tokenize_windows(
    tokenizer: Any,
    first: list[str],
    second: list[str] | None = None,
    *,
    limit: int,
    all_windows: bool,
    stride: int | None = None,
    sub_batch: int = 128,
) -> tuple[list[dict[str, Any]], list[int], list[bool]]:
    """Tokenize once, with overflow windows of at most ``limit`` tokens.

    ``second`` (e.g. NLI hypotheses) is paired with ``first`` and never cut; the
    windows slide over ``first``, overlapping by ``stride`` tokens (default a
    quarter of ``limit``). Without ``all_windows`` only the first window is kept
    and no other window is materialised.

    Texts go to the tokenizer ``sub_batch`` at a time: its intermediate buffers
    grow with the text lengths, and this bounds them without changing the output.

    Returns the features of the kept windows, the input index of each, and
    per-input flags saying whether it ran past one window.
    """
    step = (limit // 4 if stride is None else stride) if all_windows else 0
    kwargs: dict[str, Any] = {"truncation": "only_first" if second is not None else True, "max_length": limit}
    if all_windows:
        kwargs.update(stride=step, return_overflowing_tokens=True)
    features: list[dict[str, Any]] = []
    sample_of: list[int] = []
    truncated: list[bool] = []
    for start in range(0, len(first), sub_batch):
        part = first[start : start + sub_batch]
        pair = None if second is None else second[start : start + sub_batch]
        enc = tokenizer(part, pair, **kwargs) if pair is not None else tokenizer(part, **kwargs)
        keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc]
        if all_windows:
            mapping = list(enc["overflow_to_sample_mapping"])
            truncated.extend(bool(c > 1) for c in np.bincount(mapping, minlength=len(part)))
        else:
            mapping = list(range(len(part)))
            # The tokenizer keeps what truncation cut in `overflowing`; no need to build those windows.
            truncated.extend(len(e.overflowing) > 0 for e in enc.encodings)
        for w, s in enumerate(mapping):
            features.append({k: enc[k][w] for k in keys})
            sample_of.append(start + s)
    return features, sample_of, truncated
