"""`nlu serve` against hostile requests: invalid Unicode in any field, limits on every text
field and on a request's work, protocol details (405 Allow, the published schema, bad
headers), all answered with the one JSON error shape before any work is queued.

Servers run as in test_serve.py: uvicorn in a thread on a free loopback port, tiny models.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from test_serve import CORPUS, _free_port, _read, assert_error, no_serving, running  # noqa: E402, F401

from nlu_toolkit.errors import UsageError  # noqa: E402
from nlu_toolkit.serve import ServeConfig  # noqa: E402

LONE = "\ud800"  # what the JSON escape "\ud800" decodes to: not valid Unicode


@pytest.fixture(scope="module")
def hostile_config(cls_model, ner_model, qa_model, st_model, tmp_path_factory) -> ServeConfig:
    from nlu_toolkit.search.index import SemanticIndex

    folder = tmp_path_factory.mktemp("hostile") / "index"
    SemanticIndex.build(CORPUS, st_model).save(folder)
    return ServeConfig(
        tasks=("classify", "ner", "qa", "embed", "similarity"),
        models={"classify": st_model, "ner": ner_model, "qa": qa_model, "embed": st_model},
        index=str(folder),
        max_items=20,
        max_body_bytes=200_000,
        max_chars=500,
        max_labels=10,
        max_work=40,
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


# -- 2. limits on every text field and on a request's work --------------------------------------------

LONG = "x" * 501  # max_chars is 500


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/classify", {"text": "ok", "labels": ["sports", LONG]}, "labels.1"),
        ("/classify", {"texts": [{"text": "ok", "note": LONG}]}, "texts.0.note"),
        ("/qa", {"question": LONG, "context": "John wrote it."}, "question"),
        ("/qa", {"records": [{"question": "who?", "context": LONG}]}, "records.0.context"),
        ("/similarity", {"a": "x", "b": LONG}, "b"),
        ("/similarity", {"pairs": [{"a": LONG, "b": "y"}]}, "pairs.0.a"),
        ("/search", {"query": LONG}, "query"),
        ("/search", {"queries": ["ok", LONG]}, "queries.1"),
    ],
)
def test_max_chars_covers_labels_questions_contexts_queries_and_pairs(hostile, path, body, field):
    assert_error(hostile.post(path, json=body), 422, f"{field} is 501 characters, over the limit of 500")


def test_a_comma_separated_labels_string_is_one_field_under_max_chars(hostile):
    body = {"text": "ok", "labels": "sports," + LONG}
    assert_error(hostile.post("/classify", json=body), 422, "labels is 508 characters, over the limit of 500")


def test_too_many_labels_are_a_413_before_any_work(hostile):
    labels = [f"label{i}" for i in range(11)]
    assert_error(hostile.post("/classify", json={"text": "ok", "labels": labels}), 413, "11 labels", "--max-labels")
    assert_error(hostile.post("/classify", json={"text": "ok", "labels": ",".join(labels)}), 413, "limit of 10")
    # The finding: 3,000 labels in one ~30 KB body were scored for 17 s; now refused at once.
    many = [f"l{i}" for i in range(3000)]
    assert_error(hostile.post("/classify", json={"text": "ok", "labels": many}), 413, "3000 labels")


def test_texts_times_labels_over_max_work_is_a_413(hostile):
    body = {"texts": ["a", "b", "c", "d", "e"], "labels": [f"l{i}" for i in range(9)]}
    assert_error(hostile.post("/classify", json=body), 413, "5 texts x 9 labels = 45 scores", "--max-work")
    body = {"texts": ["a", "b", "c", "d"], "labels": [f"l{i}" for i in range(10)]}  # 40: at the limit
    answer = hostile.post("/classify", json=body)
    assert answer.status_code == 200 and len(answer.json()) == 4 and len(answer.json()[0]["labels"]) == 10


def test_max_labels_and_max_work_are_validated_by_config_and_cli(no_serving):  # noqa: F811
    from typer.testing import CliRunner

    from nlu_toolkit.cli.app import app

    for name in ("max_labels", "max_work"):
        with pytest.raises(UsageError, match=f"--{name.replace('_', '-')} must be at least 1"):
            ServeConfig(**{name: 0})
    for option in ("--max-labels", "--max-work"):
        result = CliRunner().invoke(app, ["serve", option, "0"])
        assert result.exit_code == 2 and option in result.output, result.output
    result = CliRunner().invoke(app, ["serve", "--max-labels", "7", "--max-work", "99"])
    assert result.exit_code == 0, result.output
    assert (no_serving["config"].max_labels, no_serving["config"].max_work) == (7, 99)
    default = ServeConfig()
    assert (default.max_labels, default.max_work) == (100, 2048)


# -- 3. protocol: 405 Allow, the published schema agrees with validation, unparseable heads ------------


def test_a_405_names_the_allowed_methods(hostile):
    response = hostile.get("/classify")
    assert_error(response, 405, "GET is not allowed")
    assert response.headers["allow"] == "POST"
    assert hostile.post("/health").headers["allow"] == "GET"


def _validates(schema: dict, components: dict, body: object) -> bool:
    jsonschema_rs = pytest.importorskip("jsonschema_rs")  # schemathesis's validator
    # "#/components/schemas/..." references resolve against this root.
    return jsonschema_rs.Draft202012Validator({**schema, "components": components}).is_valid(body)


@pytest.mark.parametrize(
    ("path", "good", "bads"),
    [
        ("/embed", {"text": "a"}, [{}, {"text": "a", "texts": ["b"]}, {"text": None, "texts": ["b"]}, {"texts": []}]),
        ("/classify", {"texts": ["a"], "labels": ["x", "y"]}, [{}, {"labels": ["x"]}, {"text": None}]),
        (
            "/qa",
            {"question": "who?", "context": "John wrote it."},
            [{}, {"question": "q"}, {"question": "q", "records": [{"question": "q", "context": "c"}]}],
        ),
        ("/similarity", {"pairs": [{"a": "x", "b": "y"}]}, [{}, {"a": "x"}, {"a": "x", "b": "y", "pairs": None}]),
        ("/search", {"queries": ["paris"]}, [{}, {"top_k": 3}, {"query": "x", "queries": ["y"]}]),
    ],
)
def test_the_published_schema_refuses_what_the_server_refuses(hostile, path, good, bads):
    openapi = hostile.get("/openapi.json").json()
    ref = openapi["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = openapi["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert _validates(schema, openapi["components"], good)
    assert hostile.post(path, json=good).status_code == 200
    for bad in bads:  # `{}` was valid by the schema and answered 422
        assert not _validates(schema, openapi["components"], bad), bad
        assert_error(hostile.post(path, json=bad), 422)


def test_a_content_length_that_is_not_a_number_gets_the_json_error(hostile):
    host, port = hostile.base_url.host, hostile.base_url.port
    with socket.create_connection((host, port), timeout=30) as raw:
        raw.sendall(b"POST /embed HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}")
        reply = b""
        while chunk := raw.recv(65536):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400") and b"content-type: application/json" in head.lower(), reply
    error = json.loads(body)
    assert set(error) == {"error", "hint"} and "Content-Length" in error["error"]


def test_the_guard_answers_a_bad_content_length_that_reaches_the_app_with_json(hostile_config):
    from fastapi.testclient import TestClient

    from nlu_toolkit.serve.api import create_app

    with TestClient(create_app(hostile_config)) as client:
        response = client.post("/embed", content=b"{}", headers={"Content-Length": "abc"})
    assert_error(response, 400, "Content-Length header is not a number")


# -- 4. shutdown removes the index's staging folder ----------------------------------------------------


def test_sigterm_leaves_no_index_staging_folder_in_the_temp_dir(hostile_config, st_model, tmp_path):
    import contextlib
    import os
    import signal
    import subprocess
    import sys
    import time

    temp = tmp_path / "tmp"  # the server's own temp dir, so other processes' folders do not count
    temp.mkdir()
    port = _free_port()
    command = [sys.executable, "-m", "nlu_toolkit", "serve", "--port", str(port), "--index", hostile_config.index]
    command += ["--model", f"search={st_model}"]
    env = {**os.environ, "TMPDIR": str(temp), "TEMP": str(temp), "TMP": str(temp)}
    log = (tmp_path / "server.log").open("w+")
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, _read(log)
            assert time.monotonic() < deadline, "the server did not start"
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                    break
            time.sleep(0.2)
        assert httpx.post(f"http://127.0.0.1:{port}/search", json={"query": "paris"}).status_code == 200
        assert list(temp.glob("nlu-index-*")), "the loaded index stages its documents in the temp dir"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, _read(log)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not list(temp.glob("nlu-index-*")), _read(log)


def test_the_app_lifespan_closes_the_loaded_index(hostile_config, tmp_path, monkeypatch):
    import tempfile

    from fastapi.testclient import TestClient

    from nlu_toolkit.serve.api import create_app

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    app = create_app(hostile_config)
    with TestClient(app) as client:
        assert client.post("/search", json={"query": "paris"}).status_code == 200
        assert list(tmp_path.glob("nlu-index-*"))
    assert not list(tmp_path.glob("nlu-index-*"))
    assert app.state.service is not None  # still referenced: the lifespan closed it, not the GC


def test_the_web_app_backend_removes_its_index_staging_folder(hostile_config, tmp_path, monkeypatch):
    import gc
    import tempfile

    from nlu_toolkit.app.webapp import AppBackend, AppConfig

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    backend = AppBackend(AppConfig(index=hostile_config.index, device="cpu"))
    assert list(tmp_path.glob("nlu-index-*"))
    del backend
    gc.collect()
    assert not list(tmp_path.glob("nlu-index-*"))


# -- 5. found by schemathesis (tests/test_serve_fuzz.py) --------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "field", "sent"),
    [
        ("/qa", {"records": [{"question": "who?", "context": "John wrote it.", "start": {"x": 1}}]}, "start", {"x": 1}),
        ("/classify", {"texts": [{"text": "ok", "label": "gold"}], "labels": ["a", "b"]}, "label", "gold"),
        ("/ner", {"texts": [{"text": "John", "entities": []}]}, "entities", []),
        ("/embed", {"texts": [{"text": "ok", "embedding": [1.0]}]}, "embedding", [1.0]),
    ],
)
def test_a_record_field_the_answer_writes_is_kept_as_input_field_not_copied_over_the_answer(
    hostile, path, body, field, sent
):
    # schemathesis sent {"start": {...}} in a QA record: the copy replaced the answer's start offset,
    # and the answer no longer matched its own schema. Now the answer keeps its field and the sent
    # value comes back as input_<field>, as in the CLI and the library (records.merge_passthrough).
    response = hostile.post(path, json=body)
    assert response.status_code == 200, response.text
    record = response.json()[0]
    assert record[f"input_{field}"] == sent
    assert record[field] != sent or field == "entities"  # the answer's own value (NER may find no entity)
    kept = {"texts": [{"text": "ok", "gold": "x"}]}  # other fields pass through under their own name
    assert hostile.post("/embed", json=kept).json()[0]["gold"] == "x"


def test_the_schema_publishes_this_servers_limits(hostile):
    schemas = hostile.get("/openapi.json").json()["components"]["schemas"]
    texts = schemas["EmbedBody"]["properties"]
    assert texts["text"]["maxLength"] == 500 and texts["texts"]["maxItems"] == 20
    labels = schemas["ClassifyBody"]["properties"]["labels"]["anyOf"]
    listed = next(v for v in labels if v.get("type") == "array")
    assert listed["maxItems"] == 10 and listed["items"]["maxLength"] == 500
    assert schemas["SearchBody"]["properties"]["queries"]["items"]["pattern"] == r"\S"
    assert schemas["QaRecord"]["properties"]["context"]["maxLength"] == 500


def test_a_whole_number_written_as_a_float_is_an_integer_as_json_schema_says(hostile):
    # schemathesis sent "top_k": 19.0, valid by the schema ("integer"), and got 422.
    hits = hostile.post("/search", json={"query": "paris", "top_k": 2.0})
    assert hits.status_code == 200 and len(hits.json()["hits"]) == 2
    assert_error(hostile.post("/search", json={"query": "paris", "top_k": "2"}), 422, "top_k")
    assert_error(hostile.post("/search", json={"query": "paris", "top_k": 2.5}), 422, "top_k")


def test_json_nested_too_deep_to_parse_is_a_400_with_a_hint(hostile):
    deep = '{"texts": [{"text": "a", "x": ' + "[" * 5000 + "]" * 5000 + "}]}"
    assert_error(post_raw(hostile, "/embed", deep), 400, "error parsing the body", "send a JSON object")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/embed", '{"texts": [{"text": "ok", "score_in": NaN}]}'),
        ("/embed", '{"texts": [{"text": "ok", "meta": {"w": [1, Infinity]}}]}'),
        ("/classify", '{"texts": [{"text": "ok", "x": -Infinity}], "labels": ["a", "b"]}'),
        ("/search", '{"query": "paris", "top_k": NaN}'),
    ],
)
def test_nan_and_infinity_literals_are_a_422_never_echoed_as_invalid_json(hostile, path, body):
    """Python's JSON parser takes NaN/Infinity; echoing one back would make the answer invalid JSON."""
    assert_error(post_raw(hostile, path, body), 422)


def test_a_port_in_use_is_refused_before_any_model_loads(st_model):
    from nlu_toolkit.serve.config import check_bind

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(UsageError, match=f"port {port} on 127.0.0.1 is already in use"):
            check_bind("127.0.0.1", port)
        from typer.testing import CliRunner

        from nlu_toolkit.cli.app import app

        result = CliRunner().invoke(app, ["serve", "--port", str(port), "-t", "embed", "-m", f"embed={st_model}"])
        assert result.exit_code == 2, result.stderr
        (line,) = result.stderr.strip().splitlines()
        assert "already in use" in line and "another port" in line
    check_bind("127.0.0.1", port)  # free again
    with pytest.raises(UsageError, match="cannot listen on host"):
        check_bind("no-such-host.invalid", 8000)
