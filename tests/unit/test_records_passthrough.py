"""Input columns never overwrite result fields: a clashing column is kept as ``input_<name>``."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from nlu_toolkit.records import Classification, LabelScore, NerResult, QAResult, merge_passthrough, with_fields


def test_gold_label_column_no_longer_replaces_the_predicted_label():
    record = Classification(0, "I loved it", "pos", 0.9, [LabelScore("pos", 0.9)], False, {"label": "gold", "n": 1})
    out = record.to_dict()
    assert out["label"] == "pos" and out["score"] == 0.9
    assert out["input_label"] == "gold" and out["n"] == 1


def test_ner_and_qa_records_keep_their_fields_and_the_inputs():
    ner = NerResult(1, "John", [], False, {"entities": "gold", "truncated": "x"}).to_dict()
    assert ner["entities"] == [] and ner["truncated"] is False
    assert ner["input_entities"] == "gold" and ner["input_truncated"] == "x"
    qa = QAResult(2, "who?", "John", 0.5, 0, 4, [], False, {"start": {"x": 1}, "answer": "gold"}).to_dict()
    assert (qa["start"], qa["answer"]) == (0, "John")
    assert qa["input_start"] == {"x": 1} and qa["input_answer"] == "gold"


def test_a_taken_input_name_gets_another_prefix():
    out = merge_passthrough({"label": "p"}, {"label": "gold", "input_label": "older"})
    assert out == {"label": "p", "input_label": "older", "input_input_label": "gold"} or out == {
        "label": "p",
        "input_label": "gold",
        "input_input_label": "older",
    }


def test_with_fields_sets_fields_and_moves_clashing_columns():
    assert with_fields({"id": 1, "text": "a", "cluster": "theirs"}, cluster=3) == {
        "id": 1,
        "text": "a",
        "cluster": 3,
        "input_cluster": "theirs",
    }
    assert with_fields({"id": 1}, embedding=[0.5]) == {"id": 1, "embedding": [0.5]}


names = st.text(alphabet="abcdefg_", min_size=1, max_size=8)


@given(st.dictionaries(names, st.integers(), max_size=6), st.dictionaries(names, st.integers(), max_size=6))
def test_merge_loses_nothing_and_keeps_every_result_field(result, extra):
    out = merge_passthrough(result, extra)
    assert {k: out[k] for k in result} == result
    assert len(out) == len(result) + len(extra)
    assert sorted(out.values()) == sorted([*result.values(), *extra.values()])
