"""`engine.meter`: tokens counted where the batches are built, per thread, nested meters adding up."""

from __future__ import annotations

import threading

import numpy as np

from nlu_toolkit.engine.batching import run_sorted
from nlu_toolkit.engine.meter import count_tokens, token_meter


def _features(*lengths: int) -> list[dict[str, list[int]]]:
    return [{"input_ids": list(range(1, n + 1)), "attention_mask": [1] * n} for n in lengths]


def _rows(batch: dict[str, np.ndarray]) -> np.ndarray:
    return batch["attention_mask"].sum(axis=1)


def test_run_sorted_counts_every_feature_length_once():
    with token_meter() as meter:
        out = run_sorted(_features(3, 7, 5), _rows, batch_size=2, pad_id=0)
    assert [int(x) for x in out] == [3, 7, 5]
    assert meter.tokens == 15


def test_meters_nest_and_nothing_is_counted_outside_one():
    count_tokens(100)  # no meter open: a no-op
    with token_meter() as outer:
        count_tokens(2)
        with token_meter() as inner:
            count_tokens(3)
        assert inner.tokens == 3
        count_tokens(4)
    assert outer.tokens == 9
    with token_meter() as later:
        pass
    assert later.tokens == 0


def test_a_meter_counts_only_its_own_thread():
    seen = threading.Event()

    def other() -> None:
        count_tokens(50)
        seen.set()

    with token_meter() as meter:
        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
        count_tokens(1)
    assert seen.is_set() and meter.tokens == 1
