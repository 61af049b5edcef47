"""Property tests (hypothesis) for the record checks: `records_from_texts` and `as_records`.

Strings become ``{"id": id_start + position, "text": ...}``; dicts keep their own id (or get
their position) and every other key; anything else, a dict without a string text, an
invalid text or no item at all is an InputError, never another exception.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nlu_toolkit.errors import InputError
from nlu_toolkit.io.readers import records_from_texts
from nlu_toolkit.tasks.common import as_records

PROPS = settings(max_examples=100, deadline=None)

keys = st.text(min_size=1, max_size=8).filter(lambda k: k not in ("id", "text"))
values = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=10), st.lists(st.integers(), max_size=3))
records = st.fixed_dictionaries(
    {"text": st.text(max_size=20)},
    optional={"id": st.one_of(st.integers(), st.text(max_size=5))},
).flatmap(lambda r: st.dictionaries(keys, values, max_size=3).map(lambda extra: {**extra, **r}))
items = st.lists(st.one_of(st.text(max_size=20), records), min_size=1, max_size=10)


@PROPS
@given(inputs=items, id_start=st.integers(-5, 10**6), use_as_records=st.booleans())
def test_ids_follow_positions_from_id_start_and_passthrough_is_kept(inputs, id_start, use_as_records):
    made = list(
        as_records(inputs, id_start=id_start) if use_as_records else records_from_texts(inputs, id_start=id_start)
    )
    assert len(made) == len(inputs)
    for i, (item, record) in enumerate(zip(inputs, made, strict=True)):
        if isinstance(item, str):
            assert record == {"id": id_start + i, "text": item}
        else:
            assert record["id"] == item.get("id", id_start + i)
            assert {k: v for k, v in record.items() if k != "id"} == {k: v for k, v in item.items() if k != "id"}
            assert next(iter(record)) == "id"  # the id comes first, as in every output record


@PROPS
@given(
    inputs=items,
    where=st.integers(0, 10),
    bad=st.one_of(
        st.integers(), st.floats(allow_nan=True), st.none(), st.binary(max_size=4), st.lists(st.text(), max_size=2)
    ),
)
def test_a_non_string_item_is_an_input_error_naming_its_position(inputs, where, bad):
    where = min(where, len(inputs))
    poisoned = [*inputs[:where], bad, *inputs[where:]]
    with pytest.raises(InputError, match=f"item {where} is a "):
        list(records_from_texts(poisoned))


@PROPS
@given(inputs=items, where=st.integers(0, 10), text=st.one_of(st.none(), st.integers(), st.lists(st.text())))
def test_a_record_without_a_string_text_is_an_input_error(inputs, where, text):
    where = min(where, len(inputs))
    poisoned = [*inputs[:where], {"id": "x", "text": text}, *inputs[where:]]
    with pytest.raises(InputError, match=f"record {where} has no string 'text'"):
        list(records_from_texts(poisoned))


@PROPS
@given(inputs=items, where=st.integers(0, 10), bad=st.characters(categories=["Cs"]), as_dict=st.booleans())
def test_a_lone_surrogate_in_any_item_is_an_input_error_naming_it(inputs, where, bad, as_dict):
    where = min(where, len(inputs))
    text = "ok " + bad
    poisoned = [*inputs[:where], {"text": text} if as_dict else text, *inputs[where:]]
    with pytest.raises(InputError, match=f"text {where} holds an invalid character"):
        list(records_from_texts(poisoned))


@PROPS
@given(text=st.text(max_size=30), max_chars=st.integers(0, 30))
def test_a_single_string_is_one_record_and_max_chars_is_enforced(text, max_chars):
    if len(text) <= max_chars:
        assert list(records_from_texts(text, max_chars=max_chars)) == [{"id": 0, "text": text}]
    else:
        with pytest.raises(InputError, match="over the limit"):
            list(records_from_texts(text, max_chars=max_chars))


@pytest.mark.parametrize("empty", [[], (), iter([])])
def test_no_items_is_an_input_error(empty):
    with pytest.raises(InputError, match="no texts given"):
        list(records_from_texts(empty))
