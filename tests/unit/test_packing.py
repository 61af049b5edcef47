"""Row packing's layout (pure numpy): which sequences share a row, positions, segments, the way back."""

from __future__ import annotations

import numpy as np
import pytest

from nlu_toolkit.engine.batching import pad_features
from nlu_toolkit.engine.packing import enabled, pack_batch, pack_rows


def _features(lengths: list[int], pair_at: int | None = None) -> list[dict[str, list[int]]]:
    out = []
    for n, length in enumerate(lengths):
        ids = [100 * (n + 1) + j for j in range(length)]  # every token says which sequence it is
        types = [0] * length if pair_at is None else [int(j >= pair_at) for j in range(length)]
        out.append({"input_ids": ids, "attention_mask": [1] * length, "token_type_ids": types})
    return out


def test_pack_rows_is_first_fit_decreasing_and_never_overfills():
    lengths = [9, 2, 5, 4, 3, 7, 1]
    rows = pack_rows(lengths, 9)
    assert rows == [[0], [5, 1], [2, 3], [4, 6]]
    assert sorted(i for row in rows for i in row) == list(range(len(lengths)))
    assert all(sum(lengths[i] for i in row) <= 9 for row in rows)


def test_pack_rows_gives_a_too_long_sequence_its_own_row():
    assert pack_rows([12, 3, 3], 8) == [[0], [1, 2]]


def test_pack_batch_places_each_sequence_whole_with_restarted_positions():
    batch = pad_features(_features([6, 2, 3, 1]), pad_id=0)
    packed, segments, layout = pack_batch(batch, pad_id=0)
    ids, positions = packed["input_ids"], packed["position_ids"]
    assert ids.shape == (2, 6) and layout.rows == 2 and layout.width == 6
    # Row 0 holds the longest alone; row 1 holds the other three side by side (3 + 2 + 1 tokens).
    assert ids[0].tolist() == [100, 101, 102, 103, 104, 105]
    assert ids[1].tolist() == [300, 301, 302, 200, 201, 400]
    assert positions[1].tolist() == [0, 1, 2, 0, 1, 0]
    assert segments[1].tolist() == [1, 1, 1, 2, 2, 3]
    # The way back: every padded slot of every sequence finds its own token.
    flat = ids.reshape(-1)
    unpacked = np.where(layout.valid, flat[layout.gather], 0)
    assert (unpacked == batch["input_ids"] * layout.valid).all()
    assert (layout.valid == batch["attention_mask"].astype(bool)).all()


def test_pack_batch_pads_rows_and_keeps_padding_in_a_segment_of_its_own():
    batch = pad_features(_features([5, 2, 2]), pad_id=7)
    packed, segments, _ = pack_batch(batch, pad_id=7)
    assert packed["input_ids"].shape == (2, 5)
    assert packed["input_ids"][1].tolist() == [200, 201, 300, 301, 7]
    assert segments[1].tolist() == [1, 1, 2, 2, 0]
    assert packed["position_ids"][1].tolist() == [0, 1, 0, 1, 0]


def test_pack_batch_carries_token_types_and_a_position_offset():
    batch = pad_features(_features([6, 3, 3], pair_at=2), pad_id=1)
    packed, _, _ = pack_batch(batch, pad_id=1, position_offset=2)
    assert packed["token_type_ids"][1].tolist() == [0, 0, 1, 0, 0, 1]
    assert packed["position_ids"][1].tolist() == [2, 3, 4, 2, 3, 4]
    assert "token_type_ids" not in pack_batch({k: v for k, v in batch.items() if k != "token_type_ids"}, pad_id=1)[0]


def test_pack_batch_returns_none_when_no_row_would_be_shared():
    # Every sequence is longer than half the longest: packing saves nothing, so the batch runs padded.
    assert pack_batch(pad_features(_features([6, 5, 4]), pad_id=0), pad_id=0) is None
    assert pack_batch(pad_features(_features([3]), pad_id=0), pad_id=0) is None


def test_a_wider_row_makes_long_sequences_share_it():
    packed, _, layout = pack_batch(pad_features(_features([6, 5, 4]), pad_id=0), pad_id=0, width=12)
    assert layout.rows == 2 and packed["input_ids"].shape == (2, 12)
    assert layout.gather.shape == (3, 6)  # the way back is still the padded (batch, longest) shape


@pytest.mark.parametrize(("value", "on"), [(None, True), ("1", True), ("0", False), ("off", False), ("no", False)])
def test_nlu_packing_switch(monkeypatch, value, on):
    if value is None:
        monkeypatch.delenv("NLU_PACKING", raising=False)
    else:
        monkeypatch.setenv("NLU_PACKING", value)
    assert enabled() is on
