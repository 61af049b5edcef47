"""The response models of /openapi.json are built from the library's record types."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

pytest.importorskip("fastapi")

from nlu_toolkit.records import Answer, Classification, Entity, LabelScore, NerResult, QAResult
from nlu_toolkit.search.index import Hit, SearchResult
from nlu_toolkit.serve import schemas

RECORDS = [
    (schemas.Classification, Classification(0, "t", "a", 0.9, [LabelScore("a", 0.9)], False)),
    (schemas.NerRecord, NerResult(0, "Paris", [Entity("LOC", 0.9, 0, 5, "Paris")])),
    (schemas.QaAnswer, QAResult(0, "q?", "x", 0.5, 0, 1, [Answer("x", 0.5, 0, 1)], False)),
    (schemas.SearchRecord, SearchResult(0, "q", [Hit(1, 7, 0.5, {"id": "d1", "text": "t"})])),
]


@pytest.mark.parametrize(("model", "record"), RECORDS, ids=[m.__name__ for m, _ in RECORDS])
def test_a_response_model_requires_every_field_that_to_dict_writes_and_validates_it(model, record):
    written = record.to_dict()
    assert list(model.model_fields) == [k for k in written if k in model.model_fields]
    assert all(f.is_required() for f in model.model_fields.values())
    model.model_validate(written)  # the published schema accepts what the server sends


def test_a_field_added_to_a_record_is_published_without_a_second_edit():
    @dataclass
    class Scored:
        label: str
        scores: list[LabelScore]
        weight: float | None = None
        extra: dict[str, Any] = field(default_factory=dict)

    model = schemas.record_model(Scored)
    schema = model.model_json_schema()
    assert schema["required"] == ["label", "scores", "weight"]  # the passthrough is not a field
    assert schema["additionalProperties"] is True
    assert schema["properties"]["weight"]["anyOf"] == [{"type": "number"}, {"type": "null"}]
    assert schema["properties"]["scores"]["items"] == {"$ref": "#/$defs/LabelScore"}
    assert model.model_fields["scores"].annotation == list[schemas._NESTED[LabelScore]]


def test_a_hit_publishes_the_document_id_where_the_record_holds_its_row():
    assert list(schemas.Hit.model_fields) == ["rank", "id", "score"]
    assert schemas.Hit.model_config.get("extra") == "allow"
