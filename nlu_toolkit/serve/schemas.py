"""Request and response models of the HTTP API (what /openapi.json publishes).

Requests are strict (123 is not a text; unknown fields are typos). Responses are the
library's records: their models are built from the record types (`record_model`), so a
field added to a record is published without a second edit.
"""

from __future__ import annotations

import dataclasses
import functools
import operator
import types
from collections.abc import Callable
from typing import Annotated, Any, Literal, Union, get_args, get_origin, get_type_hints

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    create_model,
    model_validator,
)

from nlu_toolkit import records as lib
from nlu_toolkit.search.index import Hit as SearchHit
from nlu_toolkit.search.index import SearchResult

# -- request bodies -------------------------------------------------------------------------


#: Documents that a question or context must hold more than white space (`limits.check_qa`).
NOT_BLANK: dict[str, Any] = {"pattern": r"\S"}


class _Body(BaseModel):
    # Strict: 123 is not a text, "yes" is not a boolean; unknown fields are typos, not options.
    model_config = ConfigDict(extra="forbid", strict=True)


def _one_of(body: BaseModel, single: tuple[str, ...], many: str) -> None:
    for name in (*single, many):
        if name in body.model_fields_set and getattr(body, name) is None:
            raise ValueError(f"{name!r} is null: give a value, or leave the field out")
    given_single = [getattr(body, f) is not None for f in single]
    given_many = getattr(body, many) is not None
    names = " and ".join(repr(f) for f in single)
    if any(given_single) and given_many:
        raise ValueError(f"give {names} or {many!r}, not both")
    if not given_many and not all(given_single):
        raise ValueError(f"give {names} (one item) or {many!r} (a list)")


def one_of_schema(single: tuple[str, ...], many: str) -> Callable[[dict[str, Any]], None]:
    """The published schema of a body that takes ``single`` (one item) or ``many`` (a list).

    It says what `_one_of` checks, so the schema and the validation agree (``{}``, both, or
    a field given as null are invalid by both): exactly one of the two shapes, and no nulls.
    """
    shapes = [
        {"required": list(single), "not": {"required": [many]}},
        {"required": [many], "not": {"anyOf": [{"required": [name]} for name in single]}},
    ]

    def extra(schema: dict[str, Any]) -> None:
        for name in (*single, many):
            field = schema["properties"][name]
            field.pop("default", None)
            kept = [v for v in field.pop("anyOf", []) if v != {"type": "null"}]
            if len(kept) == 1:
                field.update(kept[0])
            elif kept:
                field["anyOf"] = kept
        schema["oneOf"] = shapes

    return extra


def _whole(value: Any) -> Any:
    # JSON Schema's "integer" takes 19.0 as well as 19; strict validation would refuse it.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


#: A whole number, written 3 or 3.0 (not "3", not true).
Count = Annotated[int, BeforeValidator(_whole)]


def _text_item(value: Any) -> Any:
    if isinstance(value, (str, dict)):
        return value
    raise ValueError("each item must be a string, or an object with a 'text' string")


# One check with one message, rather than pydantic's two for a str | dict union.
TextItem = Annotated[
    Any,
    AfterValidator(_text_item),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string"},
                {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}},
            ]
        }
    ),
]


class TextsBody(_Body):
    model_config = ConfigDict(json_schema_extra=one_of_schema(("text",), "texts"))

    text: str | None = Field(None, description="One text; the answer is one record.")
    texts: list[TextItem] | None = Field(
        None,
        min_length=1,
        description='Texts, or records {"text", "id"?, ...} whose other fields are copied to the answer; '
        "the answer is a list of records in the same order.",
    )

    @model_validator(mode="after")
    def _one(self) -> TextsBody:
        _one_of(self, ("text",), "texts")
        return self


class ClassifyBody(TextsBody):
    labels: list[str] | str | None = Field(
        None, description='Zero-shot candidate labels (a list, or "a,b,c"); without them the model\'s own labels.'
    )
    multi_label: bool | None = Field(None, description="Independent per-label scores (default: the model's own).")
    top_k: Count | None = Field(None, ge=1, description="Labels kept per record (default: all).")


def _embed_schema(schema: dict[str, Any]) -> None:
    # Three shapes: "text", "texts", or TEI's "inputs" (with "truncate"/"truncation_direction").
    one_of_schema(("text",), "texts")(schema)
    for name in ("inputs", "normalize", "truncate", "truncation_direction"):
        field = schema["properties"][name]
        kept = [v for v in field.pop("anyOf", []) if v != {"type": "null"}]
        if len(kept) == 1:
            field.update(kept[0])
        elif kept:
            field["anyOf"] = kept
        field.pop("default", None)
    tei_only = [{"required": ["inputs"]}, {"required": ["truncate"]}, {"required": ["truncation_direction"]}]
    schema["oneOf"] = [
        {"required": ["text"], "not": {"anyOf": [{"required": ["texts"]}, *tei_only]}},
        {"required": ["texts"], "not": {"anyOf": [{"required": ["text"]}, *tei_only]}},
        {"required": ["inputs"], "not": {"anyOf": [{"required": ["text"]}, {"required": ["texts"]}]}},
    ]


class EmbedBody(TextsBody):
    """``text``/``texts`` (records back), or Hugging Face text-embeddings-inference's ``inputs`` (vectors back)."""

    model_config = ConfigDict(json_schema_extra=_embed_schema)

    normalize: bool | None = Field(
        None, description="Scale every vector to unit length (default: false; true with 'inputs', as TEI)."
    )
    inputs: str | list[str] | None = Field(
        None, description="TEI's shape: a text or a list of texts; the answer is a list of vectors."
    )
    truncate: bool | None = Field(
        None, description="With 'inputs': cut a text over the model's token limit (default: refuse it, 413)."
    )
    truncation_direction: Literal["Right", "right"] | None = Field(
        None, description="With 'inputs': texts are cut at the end (Right) only."
    )

    @model_validator(mode="after")
    def _one(self) -> EmbedBody:
        if "inputs" not in self.model_fields_set:
            _one_of(self, ("text",), "texts")
            for name in ("truncate", "truncation_direction"):
                if name in self.model_fields_set:
                    raise ValueError(f"{name!r} goes with 'inputs' (TEI's shape), not with 'text' or 'texts'")
        elif self.inputs is None:
            raise ValueError("'inputs' is null: give a text or a list of texts")
        elif "text" in self.model_fields_set or "texts" in self.model_fields_set:
            raise ValueError("give 'inputs' (TEI's shape) or 'text'/'texts', not both")
        return self


class QaRecord(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    question: str = Field(json_schema_extra=NOT_BLANK)
    context: str = Field(json_schema_extra=NOT_BLANK)
    id: int | str | None = None


class QaBody(_Body):
    model_config = ConfigDict(json_schema_extra=one_of_schema(("question", "context"), "records"))

    question: str | None = Field(None, json_schema_extra=NOT_BLANK)
    context: str | None = Field(None, json_schema_extra=NOT_BLANK)
    records: list[QaRecord] | None = Field(
        None,
        min_length=1,
        description='Records {"question", "context", "id"?, ...}; the answer is a list in the same order.',
    )

    @model_validator(mode="after")
    def _one(self) -> QaBody:
        _one_of(self, ("question", "context"), "records")
        return self


class Pair(_Body):
    a: str
    b: str


class SimilarityBody(_Body):
    model_config = ConfigDict(json_schema_extra=one_of_schema(("a", "b"), "pairs"))

    a: str | None = None
    b: str | None = None
    pairs: list[Pair] | None = Field(
        None, min_length=1, description="Pairs {a, b}; the answer is a list in the same order."
    )

    @model_validator(mode="after")
    def _one(self) -> SimilarityBody:
        _one_of(self, ("a", "b"), "pairs")
        return self


class SearchBody(_Body):
    model_config = ConfigDict(json_schema_extra=one_of_schema(("query",), "queries"))

    query: str | None = None
    queries: list[str] | None = Field(None, min_length=1)
    top_k: Count = Field(10, ge=1, le=1000, description="Hits per query.")
    where: str | None = Field(
        None,
        min_length=1,
        max_length=2000,
        description="SQL filter on the passthrough columns, e.g. topic = 'shipping' (Lance indexes only).",
    )
    per_document: bool = Field(
        False, description="One hit per document of a passage index (its best passage); top_k counts documents."
    )
    mode: Literal["dense", "lexical", "hybrid"] = Field(
        "dense",
        description="dense (vectors), lexical (BM25) or hybrid (both, fused); lexical and hybrid need an index "
        "built with --hybrid. Their hits carry rankers: the rank each ranker gave them.",
    )
    fusion: Literal["weighted", "rrf"] = Field(
        "weighted",
        description="mode hybrid: alpha * dense + (1 - alpha) * lexical on min-max normalised scores (the default), "
        "or reciprocal rank fusion.",
    )
    rrf_k: float = Field(60.0, ge=0, le=1e6, description="fusion rrf: k in score = sum of 1 / (k + rank).")
    alpha: float = Field(0.9, ge=0, le=1, description="fusion weighted: the weight of the dense ranker.")

    @model_validator(mode="after")
    def _one(self) -> SearchBody:
        _one_of(self, ("query",), "queries")
        return self


# -- response records: built from the library's record types, so a new field is published at once ---


class _Out(BaseModel):
    model_config = ConfigDict(extra="allow")  # passthrough fields of the request records


#: The response model of each record type that others nest (``list[LabelScore]`` in `Classification`).
_NESTED: dict[type, type[BaseModel]] = {}


def record_model(
    record: type,
    name: str | None = None,
    *,
    passthrough: str = "extra",
    replace: dict[str, tuple[str, Any]] | None = None,
) -> type[BaseModel]:
    """The response model of the dataclass ``record``: one required field per field of the record.

    Every field is required since ``to_dict()`` always writes it. The field named ``passthrough``
    (the request's own columns) is not a field but makes the model take extra properties;
    ``replace`` maps a field that ``to_dict()`` writes as another to that one's ``(name, type)``.
    A record type nested in a field (``list[Entity]``) becomes its own model, named like the type.
    """
    hints = get_type_hints(record)
    names = [f.name for f in dataclasses.fields(record)]
    written = [(replace or {}).get(n, (n, hints[n])) for n in names if n != passthrough]
    fields: dict[str, Any] = {n: (_response_type(hint), ...) for n, hint in written}
    base = _Out if passthrough in names else BaseModel
    return create_model(name or record.__name__, __base__=base, __module__=__name__, **fields)


def _response_type(hint: Any) -> Any:
    """``hint`` with every record type in it replaced by its response model."""
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        if hint not in _NESTED:
            _NESTED[hint] = record_model(hint)
        return _NESTED[hint]
    args = get_args(hint)
    if not args:
        return hint
    swapped = tuple(_response_type(a) for a in args)
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        return functools.reduce(operator.or_, swapped)
    return origin[swapped if len(swapped) > 1 else swapped[0]]


Classification = record_model(lib.Classification)
NerRecord = record_model(lib.NerResult, "NerRecord")
QaAnswer = record_model(lib.QAResult, "QaAnswer")
# A hit's document is its passthrough, and to_dict() writes the document's id where the hit holds its row.
Hit = _NESTED[SearchHit] = record_model(SearchHit, passthrough="doc", replace={"index": ("id", Any)})
SearchRecord = record_model(SearchResult, "SearchRecord")


class EmbeddingRecord(_Out):
    id: Any
    truncated: bool
    embedding: list[float]


class SimilarityRecord(BaseModel):
    a: str
    b: str
    score: float


class ErrorBody(BaseModel):
    error: str
    hint: str | None = None


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in (
        (400, "The body is not valid JSON."),
        (401, "The API key is missing or wrong."),
        (413, "The body or a list in it is too large."),
        (422, "A field is missing, unknown or of the wrong type, or the input is unusable."),
        (503, "The task's model is not loaded on this server."),
    )
}


# -- the limits of one server, published in its schema ---------------------------------------------------

#: Body fields that are lists of items, counted against ``max_items``.
ITEM_LISTS = frozenset({"texts", "queries", "records", "pairs", "inputs", "documents"})
#: Fields whose strings must hold more than white space (the library refuses blank labels and queries).
NOT_BLANK_FIELDS = frozenset({"labels", "query", "queries"})


def publish_limits(openapi: dict[str, Any], *, max_items: int, max_labels: int, max_chars: int) -> None:
    """Write a server's limits into its OpenAPI document: ``maxItems`` and ``maxLength``.

    The schema then refuses what the server refuses for size, so a client (or a fuzzer) can
    tell a request that is too large from one the server failed to answer. The body size and
    the texts x labels product (``max_body_bytes``, ``max_work``) have no JSON Schema keyword.
    """
    for name, model in openapi.get("components", {}).get("schemas", {}).items():
        if not name.endswith("Body") and name not in ("QaRecord", "Pair"):
            continue
        for field, schema in model.get("properties", {}).items():
            for variant in schema.get("anyOf", [schema]):
                _limit(variant, field, max_items=max_items, max_labels=max_labels, max_chars=max_chars)


def _limit(schema: dict[str, Any], field: str, *, max_items: int, max_labels: int, max_chars: int) -> None:
    blank = {"pattern": r"\S"} if field in NOT_BLANK_FIELDS else {}
    if schema.get("type") == "string":
        schema.update(maxLength=max_chars, **blank)
    elif schema.get("type") == "array":
        if field in ITEM_LISTS:
            schema["maxItems"] = max_items
        elif field == "labels":
            schema.update(maxItems=max_labels, minItems=1, uniqueItems=True)
        items = schema.get("items", {})
        if items.get("type") == "string":
            items.update(maxLength=max_chars, **blank)
