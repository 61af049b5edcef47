"""`nlu serve` against hostile requests: invalid Unicode in any field, limits on every text
field and on a request's work, protocol details (405 Allow, the published schema, bad
headers), all answered with the one JSON error shape before any work is queued.

Servers run as in test_serve.py: uvicorn in a thread on a free loopback port, tiny models.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from test_serve import CORPUS, assert_error, running  # noqa: E402

from nlu_toolkit.serve import ServeConfig  # noqa: E402

LONE = "\ud800"  # what the JSON escape "\ud800" decodes to: not valid Unicode


@pytest.fixture(scope="module")
def hostile_config(cls_model, ner_model, qa_model, st_model, tmp_path_factory) -> ServeConfig:
    from nlu_toolkit.index import SemanticIndex

    folder = tmp_path_factory.mktemp("hostile") / "index"
    SemanticIndex.build(CORPUS, st_model).save(folder)
    return ServeConfig(
        tasks=("classify", "ner", "qa", "embed", "similarity"),
        models={"classify": st_model, "ner": ner_model, "qa": qa_model, "embed": st_model},
        index=str(folder),
        max_items=20,
        max_body_bytes=200_000,
        max_chars=500,
    )


@pytest.fixture(scope="module")
def hostile(hostile_config) -> Iterator[httpx.Client]:
    with running(hostile_config) as client:
        yield client


def post_raw(client: httpx.Client, path: str, body: str) -> httpx.Response:
    """POST ``body`` as written: JSON escapes such as \\ud800 reach the server as they are."""
    return client.post(path, content=body.encode("ascii"), headers={"Content-Type": "application/json"})


# -- 1. lone surrogates: 422 naming the field, never a 500 --------------------------------------------

SURROGATE_BODIES = [
    ("/embed", '{"text": "a\\ud800b"}', "text"),
    ("/embed", '{"texts": ["ok", "\\ud800"]}', "texts.1"),
    ("/embed", '{"texts": [{"text": "ok", "note": "\\udfff"}]}', "texts.0.note"),
    ("/embed", '{"texts": [{"text": "ok", "\\ud800": 1}]}', "a field name in texts.0"),
    ("/ner", '{"text": "\\ud800"}', "text"),
    ("/ner", '{"texts": [{"text": "\\ud800", "id": 1}]}', "texts.0.text"),
    ("/qa", '{"question": "who\\ud800?", "context": "John wrote it."}', "question"),
    ("/qa", '{"question": "who?", "context": "\\ud800"}', "context"),
    ("/qa", '{"records": [{"question": "q", "context": "c", "src": "\\ud800"}]}', "records.0.src"),
    ("/similarity", '{"a": "\\ud800", "b": "x"}', "a"),
    ("/similarity", '{"pairs": [{"a": "x", "b": "\\ud800"}]}', "pairs.0.b"),
    ("/search", '{"query": "\\ud800"}', "query"),
    ("/search", '{"queries": ["ok", "\\ud800"]}', "queries.1"),
    ("/classify", '{"text": "\\ud800"}', "text"),
    ("/classify", '{"text": "ok", "labels": ["sports", "\\ud800"]}', "labels.1"),
    ("/classify", '{"text": "ok", "labels": "sports,\\ud800"}', "labels"),
    ("/classify", '{"texts": ["ok"], "labels": ["\\udbff\\udbff"]}', "labels.0"),
]


@pytest.mark.parametrize(("path", "body", "field"), SURROGATE_BODIES)
def test_a_lone_surrogate_in_any_text_field_is_a_422_naming_it_not_a_500(hostile, path, body, field):
    assert_error(post_raw(hostile, path, body), 422, f"{field} holds an invalid character", "re-encode")


def test_a_lone_surrogate_in_an_unknown_field_name_is_a_clean_422(hostile):
    assert_error(post_raw(hostile, "/embed", '{"text": "x", "\\ud800": 1}'), 422)


def test_an_error_quoting_a_lone_surrogate_is_still_valid_utf8():
    from nlu_toolkit.serve.errors import error_response

    body = json.loads(error_response(422, f"unknown field '{LONE}'", f"not {LONE}").body.decode("utf-8"))
    assert body == {"error": "unknown field '\ufffd'", "hint": "not \ufffd"}


def test_the_server_still_answers_after_hostile_text(hostile):
    assert hostile.post("/embed", json={"text": "fine"}).status_code == 200
