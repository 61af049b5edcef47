"""`nlu serve` over real HTTP on loopback: every endpoint against the library, errors, limits,
API keys, the task-loading rule, a bounded load test, SIGTERM, and the CLI around it.

Servers run uvicorn in a thread on a free port with the tiny models of conftest.py (the
resolver caches models per process, so each extra server starts in milliseconds); one
SIGTERM test runs ``nlu serve`` as a subprocess. Tests on the embedded MiniLM are slow.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from nlu_toolkit.errors import InputError, MissingExtra, ModelNotAvailable, UsageError  # noqa: E402
from nlu_toolkit.io.writers import dumps  # noqa: E402
from nlu_toolkit.serve import ServeConfig, create_app, require_serve_extra  # noqa: E402
from nlu_toolkit.serve.config import is_loopback, parse_model_options  # noqa: E402
from nlu_toolkit.serve.protocol import json_error_protocol  # noqa: E402

TEXTS = ["I loved this film", "John lives in Paris", "the plot was boring", "Mary works at Acme Corp in London"]
CONTEXT = "John wrote the story in Paris. Mary lives in London and works at Acme Corp."
QUESTIONS = ["Who wrote the story?", "Where does Mary live?"]
CORPUS = [
    {"id": "d1", "text": "the capital of france is paris", "topic": "geo"},
    {"id": "d2", "text": "john loved the movie", "topic": "film"},
    {"id": "d3", "text": "money in the bank", "topic": "money"},
    {"id": "d4", "text": "a river in london", "topic": "geo"},
]
WAIT = 60


# -- helpers ------------------------------------------------------------------------------------


@contextlib.contextmanager
def running(config: ServeConfig) -> Iterator[httpx.Client]:
    """Serve ``config`` with uvicorn in a thread on a free loopback port; yield a client for it."""
    with serving(config) as (client, _):
        yield client


@contextlib.contextmanager
def serving(config: ServeConfig) -> Iterator[tuple[httpx.Client, Any]]:
    """`running`, yielding the app too (for tests that look at its state)."""
    import uvicorn

    app = create_app(config)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    # The protocol `nlu serve` runs with: a request head the parser refuses gets the JSON error.
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", http=json_error_protocol()))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.01)
    port = sock.getsockname()[1]
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=WAIT) as client:
            yield client, app
    finally:
        server.should_exit = True
        thread.join(WAIT)
        sock.close()
    assert not thread.is_alive()
    # The lifespan stopped every worker thread.
    assert not any(w.running for w in app.state.service.workers.values())


def plain(value: Any) -> Any:
    """A library result as the API writes it (numpy values become numbers, tuples lists)."""
    return json.loads(dumps(value))


def assert_same(got: Any, want: Any, where: str = "") -> None:
    """Equal records, floats to 1e-4: a batch pads texts with other requests' texts."""
    if isinstance(want, float):
        assert got == pytest.approx(want, abs=1e-4), where
    elif isinstance(want, dict):
        assert isinstance(got, dict) and list(got) == list(want), (where, got, want)
        for key in want:
            assert_same(got[key], want[key], f"{where}.{key}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), (where, got, want)
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            assert_same(g, w, f"{where}[{i}]")
    else:
        assert got == want, (where, got, want)


def assert_error(response: httpx.Response, status: int, *needles: str) -> dict:
    """A JSON error of the one shape: {"error", "hint"}, one line, no traceback."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "hint"}, body
    assert "\n" not in body["error"] and "Traceback" not in response.text
    for needle in needles:
        assert needle in body["error"] + " " + str(body["hint"]), body
    return body


# -- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def index_dir(st_model, tmp_path_factory) -> str:
    from nlu_toolkit.search.index import SemanticIndex

    folder = tmp_path_factory.mktemp("serve") / "index"
    SemanticIndex.build(CORPUS, st_model).save(folder)
    return str(folder)


@pytest.fixture(scope="module")
def config(cls_model, ner_model, qa_model, st_model, index_dir) -> ServeConfig:
    return ServeConfig(
        tasks=("classify", "ner", "qa", "embed", "similarity"),
        models={"classify": cls_model, "ner": ner_model, "qa": qa_model, "embed": st_model},
        index=index_dir,
        max_batch_size=16,
        max_wait_ms=2,
        max_items=20,
        max_body_bytes=20_000,
        max_chars=500,
    )


@pytest.fixture(scope="module")
def api(config) -> Iterator[httpx.Client]:
    with running(config) as client:
        yield client


# -- endpoints against the library ----------------------------------------------------------------


def test_health_lists_the_served_tasks_and_batching(api):
    health = api.get("/health").json()
    assert health["status"] == "ok"
    assert health["tasks"] == ["classify", "ner", "qa", "embed", "similarity", "search"]
    assert health["batching"] == {
        "enabled": True,
        "max_batch_size": 16,
        "max_wait_ms": 2,
        "idle_ms": 2.0,
        "batch_size": 32,
    }
    # One worker per model: embed, similarity and search share the tiny sentence-transformers model.
    assert len(health["workers"]) == 4


def test_models_name_each_model_with_its_weights_checksum(api, cls_model, ner_model, qa_model, st_model, index_dir):
    from nlu_toolkit.models.resolver import locate, weights_sha256

    models = api.get("/models").json()
    for task, folder, kind in (
        ("classify", cls_model, "text-classification"),
        ("ner", ner_model, "token-classification"),
        ("qa", qa_model, "question-answering"),
        ("embed", st_model, "sentence-embedding"),
        ("similarity", st_model, "sentence-embedding"),
        ("search", st_model, "sentence-embedding"),
    ):
        model = models[task]["model"]
        assert models[task]["served"] is True
        assert model["path"] == str(Path(folder).resolve())
        assert model["weights_sha256"] == weights_sha256(locate(folder, kind))
        assert len(model["weights_sha256"]) == 64
    assert models["classify"]["labels"] == ["NEGATIVE", "POSITIVE"]
    assert models["classify"]["zero_shot_model"] is None  # a plain classifier: no zero-shot
    assert models["search"]["index"]["path"] == index_dir
    assert models["search"]["index"]["count"] == len(CORPUS)
    assert models["embed"]["dimension"] == 32


def test_classify_one_text_gives_one_record_like_the_library(api, cls_model):
    from nlu_toolkit.tasks.classify import Classifier

    got = api.post("/classify", json={"text": TEXTS[0]})
    assert got.status_code == 200
    want = next(Classifier(cls_model).predict([TEXTS[0]])).to_dict()
    assert_same(got.json(), plain(want))


def test_classify_a_list_keeps_order_ids_and_passthrough(api, cls_model):
    from nlu_toolkit.tasks.classify import Classifier

    texts = [TEXTS[0], {"text": TEXTS[1], "id": "r-1", "source": "web"}, TEXTS[2]]
    got = api.post("/classify", json={"texts": texts}).json()
    want = [r.to_dict() for r in Classifier(cls_model).predict(texts)]
    assert [r["id"] for r in got] == [0, "r-1", 2]
    assert got[1]["source"] == "web"
    assert_same(got, plain(want))

    top = api.post("/classify", json={"texts": TEXTS, "top_k": 1, "multi_label": True}).json()
    want = [r.to_dict() for r in Classifier(cls_model, top_k=1, multi_label=True).predict(TEXTS)]
    assert_same(top, plain(want))


def test_ner_matches_the_library(api, ner_model):
    from nlu_toolkit.tasks.ner import EntityRecognizer

    recognizer = EntityRecognizer(ner_model)
    one = api.post("/ner", json={"text": TEXTS[3]}).json()
    assert_same(one, plain(next(recognizer.predict([TEXTS[3]])).to_dict()))
    many = api.post("/ner", json={"texts": TEXTS}).json()
    assert_same(many, plain([r.to_dict() for r in recognizer.predict(TEXTS)]))
    for record in many:
        for entity in record["entities"]:
            assert record["text"][entity["start"] : entity["end"]] == entity["word"]


def test_qa_question_and_records_match_the_library(api, qa_model):
    from nlu_toolkit.tasks.qa import QuestionAnswerer

    answerer = QuestionAnswerer(qa_model)
    one = api.post("/qa", json={"question": QUESTIONS[0], "context": CONTEXT}).json()
    want = next(answerer.predict([{"id": 0, "question": QUESTIONS[0], "context": CONTEXT}])).to_dict()
    assert_same(one, plain(want))
    assert CONTEXT[one["start"] : one["end"]] == one["answer"]

    records = [{"question": q, "context": CONTEXT, "id": f"q{i}", "lang": "en"} for i, q in enumerate(QUESTIONS)]
    many = api.post("/qa", json={"records": records}).json()
    assert_same(many, plain([r.to_dict() for r in answerer.predict(records)]))
    assert [r["id"] for r in many] == ["q0", "q1"] and many[0]["lang"] == "en"


def test_embed_matches_the_library_raw_and_normalized(api, st_model):
    import numpy as np

    from nlu_toolkit.tasks.embed import Embedder

    for normalize in (False, True):
        got = api.post("/embed", json={"texts": TEXTS, "normalize": normalize}).json()
        vectors, _ = Embedder(st_model, normalize=normalize).encode(TEXTS)
        assert [r["id"] for r in got] == [0, 1, 2, 3]
        assert [set(r) for r in got] == [{"id", "truncated", "embedding"}] * 4
        np.testing.assert_allclose([r["embedding"] for r in got], vectors, atol=1e-5)
    one = api.post("/embed", json={"text": TEXTS[0]}).json()
    assert one["id"] == 0 and len(one["embedding"]) == 32


def test_similarity_matches_the_library(api, st_model):
    from nlu_toolkit.tasks.embed import similarity

    one = api.post("/similarity", json={"a": TEXTS[0], "b": TEXTS[2]}).json()
    assert_same(one, plain(similarity(TEXTS[0], TEXTS[2], st_model)[0]))
    pairs = [{"a": TEXTS[i], "b": TEXTS[j]} for i, j in ((0, 1), (2, 3), (1, 1))]
    many = api.post("/similarity", json={"pairs": pairs}).json()
    assert_same(many, plain(similarity([p["a"] for p in pairs], [p["b"] for p in pairs], st_model)))
    assert many[2]["score"] == pytest.approx(1.0, abs=1e-5)


def test_search_matches_the_index_and_numbers_queries_per_request(api, index_dir):
    from nlu_toolkit.search.index import SemanticIndex

    index = SemanticIndex.load(index_dir)
    queries = ["paris in france", "a film john loved"]
    many = api.post("/search", json={"queries": queries, "top_k": 2}).json()
    assert_same(many, plain([r.to_dict() for r in index.search(queries, top_k=2)]))
    assert [r["query_index"] for r in many] == [0, 1]
    assert many[0]["hits"][0]["topic"]  # passthrough columns of the documents
    one = api.post("/search", json={"query": queries[1]}).json()
    assert one["query_index"] == 0 and len(one["hits"]) == len(CORPUS)


# -- which tasks are served -------------------------------------------------------------------------


def test_labels_on_a_plain_classifier_answer_503_with_the_way_out(api):
    assert_error(api.post("/classify", json={"text": "x", "labels": ["a", "b"]}), 503, "--model classify=embedded")


def test_a_sentence_transformers_classify_model_serves_zero_shot_only(st_model):
    from nlu_toolkit.tasks.classify import Classifier

    with running(ServeConfig(tasks=("classify",), models={"classify": st_model})) as client:
        got = client.post("/classify", json={"texts": TEXTS, "labels": "sports,film"}).json()
        want = Classifier(st_model, labels=["sports", "film"]).predict(TEXTS)
        assert_same(got, plain([r.to_dict() for r in want]))
        assert_error(client.post("/classify", json={"text": "x"}), 503, "zero-shot only", "labels")
        assert_error(client.post("/classify", json={"text": "x", "labels": ""}), 422, "'labels' is empty")
        assert client.get("/models").json()["classify"]["model"] is None


def test_an_nli_classify_model_serves_its_labels_and_zero_shot(nli_model):
    from nlu_toolkit.tasks.classify import Classifier

    with running(ServeConfig(models={"classify": nli_model}, tasks=("classify",))) as client:
        own = client.post("/classify", json={"text": TEXTS[0]}).json()
        assert_same(own, plain(next(Classifier(nli_model).predict([TEXTS[0]])).to_dict()))
        zero = client.post("/classify", json={"text": TEXTS[0], "labels": ["film", "money"]}).json()
        want = next(Classifier(nli_model, labels=["film", "money"]).predict([TEXTS[0]])).to_dict()
        assert_same(zero, plain(want))
        assert {x["label"] for x in zero["labels"]} == {"film", "money"}


def test_tasks_left_out_answer_503_naming_the_flag(st_model):
    with running(ServeConfig(tasks=("embed",), models={"embed": st_model})) as client:
        assert client.get("/health").json()["tasks"] == ["embed"]
        assert_error(client.post("/ner", json={"text": "x"}), 503, "ner endpoint is not served", "--task ner")
        assert_error(client.post("/search", json={"query": "x"}), 503, "--task search")
        models = client.get("/models").json()
        assert models["embed"]["served"] and not models["qa"]["served"]
        assert "--task qa" in models["qa"]["hint"]


def test_onnx_backend_serves_the_same_answers(st_model, cls_model):
    pytest.importorskip("onnxruntime")
    from nlu_toolkit.tasks.classify import Classifier
    from nlu_toolkit.tasks.embed import Embedder

    config = ServeConfig(tasks=("embed", "similarity", "classify"), models={"embed": st_model, "classify": cls_model},
                         backend="onnx")  # fmt: skip
    with running(config) as client:
        got = client.post("/embed", json={"texts": TEXTS[:3]}).json()
        want, _ = Embedder(st_model, device="cpu").encode(TEXTS[:3])
        for record, vector in zip(got, want, strict=True):
            cosine = np.dot(record["embedding"], vector) / np.linalg.norm(record["embedding"]) / np.linalg.norm(vector)
            assert cosine >= 0.9999
        labels = [r["label"] for r in client.post("/classify", json={"texts": TEXTS[:3]}).json()]
        assert labels == [r.label for r in Classifier(cls_model, device="cpu").predict(TEXTS[:3])]
        pair = client.post("/similarity", json={"a": TEXTS[0], "b": TEXTS[0]}).json()
        assert pair["score"] == pytest.approx(1.0, abs=1e-4)
    with pytest.raises(UsageError, match="needs backend onnx"):
        ServeConfig(quantize="int8")


def test_a_task_asked_for_must_load(empty_hf_cache, cls_model):
    from nlu_toolkit.serve.service import Service

    with pytest.raises(ModelNotAvailable, match="not in the local HF cache") as e:
        Service(ServeConfig(tasks=("ner",)))
    assert "model" in e.value.params  # the resolver names {=model}: the CLI shows --model
    with pytest.raises(ModelNotAvailable) as e:
        Service(ServeConfig(tasks=("classify",)))
    assert "--model classify=embedded" in e.value.hint
    with pytest.raises(ModelNotAvailable, match="no model folder"):
        Service(ServeConfig(models={"qa": "./no/such/model"}, tasks=("qa",)))
    with pytest.raises(UsageError, match="no token-classification"):
        Service(ServeConfig(tasks=("ner",), models={"ner": cls_model}))


# -- errors and limits --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "needle"),
    [
        ("POST", "/classify", b'{"text": "unclosed', 400, "not valid JSON"),
        ("POST", "/classify", b"", 422, "body is missing"),
        ("POST", "/classify", b"[]", 422, "valid dictionary"),
        ("POST", "/classify", {}, 422, "give 'text' (one item) or 'texts'"),
        ("POST", "/classify", {"text": "a", "texts": ["b"]}, 422, "not both"),
        ("POST", "/classify", {"txt": "a"}, 422, "unknown field 'txt'"),
        ("POST", "/classify", {"text": 3}, 422, "text: Input should be a valid string"),
        ("POST", "/classify", {"texts": "abc"}, 422, "texts: Input should be a valid list"),
        ("POST", "/classify", {"texts": ["ok", 7]}, 422, "texts.1: each item must be a string"),
        ("POST", "/classify", {"texts": [{"txt": "a"}]}, 422, "record 0 has no string 'text'"),
        ("POST", "/classify", {"texts": []}, 422, "at least 1 item"),
        ("POST", "/classify", {"text": "a", "top_k": 0}, 422, "top_k"),
        ("POST", "/classify", {"text": "a", "multi_label": "yes"}, 422, "multi_label"),
        ("POST", "/classify", {"text": "x" * 501}, 422, "over the limit of 500"),
        ("POST", "/classify", {"texts": ["a"] * 21}, 413, "21 items, more than the limit of 20"),
        ("POST", "/embed", {"text": "a", "normalize": 1}, 422, "normalize"),
        ("POST", "/qa", {"question": "who?"}, 422, "give 'question' and 'context'"),
        ("POST", "/qa", {"question": " ", "context": "c"}, 422, "empty question"),
        ("POST", "/qa", {"records": [{"question": "q"}]}, 422, "missing field 'records.0.context'"),
        ("POST", "/qa", {"records": [{"question": "q", "context": "c"}] * 21}, 413, "limit of 20"),
        ("POST", "/similarity", {"a": "x"}, 422, "give 'a' and 'b'"),
        ("POST", "/similarity", {"pairs": [{"a": "x", "b": "y", "c": "z"}]}, 422, "unknown field 'pairs.0.c'"),
        ("POST", "/search", {"query": "x", "top_k": 1001}, 422, "top_k"),
        ("POST", "/search", {"queries": ["x"] * 21}, 413, "limit of 20"),
        ("POST", "/translate", {"text": "x"}, 404, "no endpoint POST /translate"),
        ("GET", "/classify", None, 405, "GET is not allowed"),
        ("POST", "/classify", {"text": "x" * 30_000}, 413, "larger than 20,000 bytes"),
    ],
)
def test_bad_requests_get_a_clear_json_error(api, method, path, body, status, needle):
    if isinstance(body, (dict, list)):
        response = api.request(method, path, json=body)
    else:
        response = api.request(method, path, content=body, headers={"Content-Type": "application/json"})
    assert_error(response, status, needle)


def test_a_chunked_body_over_the_limit_is_refused(api):
    def chunks():
        yield b'{"text": "'
        for _ in range(30):
            yield b"x" * 1000
        yield b'"}'

    assert_error(api.post("/classify", content=chunks()), 413, "larger than 20,000 bytes")


def test_a_slow_client_does_not_block_others(api):
    host, port = api.base_url.host, api.base_url.port
    with socket.create_connection((host, port)) as slow:
        # Headers and half a body, then silence: the server must keep serving everyone else.
        slow.sendall(b'POST /embed HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\n\r\n{"text": "half')
        for _ in range(3):
            assert api.post("/embed", json={"text": "quick"}, timeout=10).status_code == 200
        slow.sendall(b' a body"}' + b" " * (40 - len(b'{"text": "half a body"}')))
        reply = slow.recv(65536)
    assert reply.startswith(b"HTTP/1.1 200")


def test_json_is_read_whatever_the_content_type(api):
    # `curl -d '{...}'` sends application/x-www-form-urlencoded.
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    response = api.post("/classify", content=json.dumps({"text": "I loved it"}), headers=form)
    assert response.status_code == 200 and response.json()["text"] == "I loved it"


def test_library_errors_map_to_their_status_and_unexpected_ones_to_a_one_line_500(api, monkeypatch):
    from nlu_toolkit.errors import IndexCorrupted
    from nlu_toolkit.serve import tasks as served_tasks

    def fail_with(error: BaseException):
        def run(self, group, payloads):
            raise error

        monkeypatch.setattr(served_tasks.PredictTask, "run", run)

    fail_with(InputError("this text cannot be tagged", "shorten it"))
    assert_error(api.post("/ner", json={"text": "x"}), 422, "cannot be tagged", "shorten it")
    fail_with(IndexCorrupted("the index is damaged", "rebuild it"))
    assert_error(api.post("/ner", json={"text": "x"}), 500, "the index is damaged")
    fail_with(RuntimeError("boom\nsecond line"))
    body = assert_error(api.post("/ner", json={"text": "x"}), 500, "ner failed: RuntimeError: boom second line")
    assert body["hint"] == "the server log has the details"
    monkeypatch.undo()
    assert api.post("/ner", json={"text": "x"}).status_code == 200  # the worker survived


# -- API key ---------------------------------------------------------------------------------------


def test_api_key_guards_every_endpoint_but_health_and_docs(st_model):
    key = "s3cret-key"
    with running(ServeConfig(tasks=("embed",), models={"embed": st_model}, api_key=key)) as client:
        body = {"text": "x"}
        missing = client.post("/embed", json=body)
        assert_error(missing, 401, "missing or wrong API key", "Authorization: Bearer")
        assert missing.headers["www-authenticate"] == "Bearer"
        assert_error(client.post("/embed", json=body, headers={"Authorization": "Bearer wrong"}), 401)
        assert_error(client.post("/embed", json=body, headers={"Authorization": f"Basic {key}"}), 401)
        assert_error(client.post("/embed", content=b"{bad", headers={"Authorization": "Bearer x"}), 401)
        assert_error(client.get("/models"), 401)
        assert_error(client.post("/nowhere"), 401)  # no endpoint list for strangers
        good = {"Authorization": f"Bearer {key}"}
        assert client.post("/embed", json=body, headers=good).status_code == 200
        assert client.get("/models", headers=good).status_code == 200
        assert client.get("/health").status_code == 200
        schema = client.get("/openapi.json").json()
        assert "HTTPBearer" in schema["components"]["securitySchemes"]
        assert client.get("/docs").status_code == 200
        if importlib.util.find_spec("swagger_ui_bundle") is not None:
            assert client.get("/docs-assets/swagger-ui.css").status_code == 200  # the docs' own files stay open


def test_openapi_documents_every_endpoint_and_the_docs_page_is_served(api):
    schema = api.get("/openapi.json").json()
    assert {"/health", "/models", "/classify", "/ner", "/qa", "/embed", "/similarity", "/search"} <= set(
        schema["paths"]
    )
    classify = schema["paths"]["/classify"]["post"]
    assert {"200", "400", "413", "422", "503"} <= set(classify["responses"])
    assert "securitySchemes" not in schema.get("components", {})  # no key, no lock
    docs = api.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    if importlib.util.find_spec("swagger_ui_bundle") is not None:
        # Offline-first: the page's scripts come from this server, not a CDN.
        assert "cdn.jsdelivr.net" not in docs.text and "/docs-assets/swagger-ui-bundle.js" in docs.text
        script = api.get("/docs-assets/swagger-ui-bundle.js")
        assert script.status_code == 200 and len(script.content) > 100_000


# -- load: concurrent clients, batched vs one at a time ----------------------------------------------------


def _load(client_base: str, clients: int, per_client: int) -> tuple[float, list[list[tuple[str, dict]]]]:
    answers: list[list[tuple[str, dict]]] = [[] for _ in range(clients)]
    errors: list[str] = []
    barrier = threading.Barrier(clients + 1)

    def run(c: int) -> None:
        with httpx.Client(base_url=client_base, timeout=WAIT) as http:
            barrier.wait()
            for k in range(per_client):
                text = f"{TEXTS[(c + k) % len(TEXTS)]} {c} {k}"  # distinct per request: order is checkable
                response = http.post("/classify", json={"text": text})
                if response.status_code != 200:
                    errors.append(response.text)
                    return
                answers[c].append((text, response.json()))

    threads = [threading.Thread(target=run, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join(WAIT)
    seconds = time.perf_counter() - start
    assert not errors, errors[0]
    return seconds, answers


def test_concurrent_clients_get_their_own_answers_in_order_batched_or_not(config, cls_model, capsys):
    from dataclasses import replace

    from nlu_toolkit.tasks.classify import Classifier

    clients, per_client = 16, 8
    classifier = Classifier(cls_model)
    rates = {}
    for batching in (True, False):
        with running(replace(config, batching=batching, max_wait_ms=5)) as client:
            seconds, answers = _load(str(client.base_url), clients, per_client)
            stats = client.get("/health").json()["workers"]
        texts = [text for per in answers for text, _ in per]
        want = {r["text"]: r for r in (x.to_dict() for x in classifier.predict(texts))}
        for per in answers:
            assert len(per) == per_client
            for text, got in per:  # each client's answers, in its order, for its texts
                assert got["text"] == text
                assert_same(got, {**plain(want[text]), "id": 0})
        worker = next(s for s in stats.values() if s["items"])
        assert worker["items"] == clients * per_client  # every text ran exactly once
        if not batching:
            assert worker["largest_batch"] == 1
        rates[batching] = clients * per_client / seconds
        with capsys.disabled():
            print(
                f"\n[serve load] batching={batching}: {rates[batching]:.0f} req/s, "
                f"{worker['mean_batch']} texts/batch (largest {worker['largest_batch']})",
                end="",
            )
    with capsys.disabled():
        print(f"\n[serve load] batching / no-batching: {rates[True] / rates[False]:.2f}x (tiny model; not asserted)")


# -- shutdown ------------------------------------------------------------------------------------------------


def test_sigterm_finishes_the_request_in_flight_and_exits_0(st_model, tmp_path):
    port = _free_port()
    command = [sys.executable, "-m", "nlu_toolkit", "serve", "--port", str(port), "--task", "embed"]
    # A long batching wait keeps the request in flight when SIGTERM arrives.
    command += ["--model", f"embed={st_model}", "--max-wait-ms", "4000", "--idle-ms", "0"]
    log = (tmp_path / "server.log").open("w+")
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy())
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, _read(log)
            assert time.monotonic() < deadline, "the server did not start"
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{base}/health").status_code == 200:
                    break
            time.sleep(0.2)
        result: dict[str, Any] = {}

        def call() -> None:
            result["response"] = httpx.post(f"{base}/embed", json={"text": "still answered"}, timeout=WAIT)

        caller = threading.Thread(target=call)
        caller.start()
        time.sleep(1.0)  # the request is now waiting in the batcher (4 s)
        proc.send_signal(signal.SIGTERM)
        caller.join(WAIT)
        assert proc.wait(WAIT) == 0, _read(log)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    response = result["response"]
    assert response.status_code == 200 and len(response.json()["embedding"]) == 32
    output = _read(log)
    assert "Shutting down" in output and "Traceback" not in output


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _read(log) -> str:
    log.flush()
    log.seek(0)
    return log.read()


# -- CLI and configuration -------------------------------------------------------------------------------------


@pytest.fixture
def no_serving(monkeypatch):
    """Stub out model loading and uvicorn; record the config `nlu serve` would run."""
    from nlu_toolkit.serve import api as api_module

    seen: dict[str, Any] = {}

    class FakeService:
        def describe(self):
            return {
                "embed": {"served": True, "model": {"name": "tiny"}},
                "ner": {
                    "served": False,
                    "error": "the ner endpoint is not served: no model",
                    "hint": "add --model ner=PATH",
                },
            }

    class FakeApp:
        def __init__(self):
            self.state = type("State", (), {"service": FakeService()})()

    def fake_create_app(config):
        seen["config"] = config
        return FakeApp()

    monkeypatch.setattr(api_module, "create_app", fake_create_app)
    monkeypatch.setattr(api_module, "run_server", lambda app, config, **kw: seen.setdefault("ran", kw))
    return seen


def test_cli_warns_when_binding_beyond_loopback_without_a_key(no_serving, monkeypatch):
    from typer.testing import CliRunner

    from nlu_toolkit.cli.app import app

    monkeypatch.delenv("NLU_API_KEY", raising=False)
    result = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0", "--model", "embed=x", "--no-batching"])
    assert result.exit_code == 0, result.output
    assert "warning: binding 0.0.0.0 without --api-key" in result.stderr
    assert "ner: not served (no model; add --model ner=PATH)" in result.stderr
    config = no_serving["config"]
    assert (config.host, config.models, config.batching, config.api_key) == ("0.0.0.0", {"embed": "x"}, False, None)

    result = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0"], env={"NLU_API_KEY": "k"})
    assert result.exit_code == 0 and "warning" not in result.stderr
    assert no_serving["config"].api_key == "k"
    assert "API key required" in result.stderr


def test_cli_usage_errors_exit_2(no_serving):
    from typer.testing import CliRunner

    from nlu_toolkit.cli.app import app

    for args, needle in (
        (["--task", "translate"], "translate"),
        (["--model", "./m"], "does not say which task"),
        (["--task", "search"], "needs an index"),
        (["--max-wait-ms", "-1"], "max-wait-ms"),
        (["--idle-ms", "-1"], "idle-ms"),
        (["--port", "70000"], "port"),
    ):
        result = CliRunner().invoke(app, ["serve", *args])
        assert result.exit_code == 2, (args, result.output)
        assert needle in result.stderr, (args, result.stderr)
    assert "config" not in no_serving


def test_missing_extra_names_the_pip_command(monkeypatch):
    from typer.testing import CliRunner

    from nlu_toolkit.cli.app import app

    monkeypatch.setitem(sys.modules, "fastapi", None)  # import fastapi now raises ImportError
    with pytest.raises(MissingExtra) as e:
        require_serve_extra()
    assert e.value.hint == "install it with: pip install 'nlu-toolkit[serve]'"
    result = CliRunner().invoke(app, ["serve"])
    assert result.exit_code == 2
    assert "pip install 'nlu-toolkit[serve]'" in result.stderr


def test_model_options_and_loopback_detection():
    assert parse_model_options(["ner=./a", "embed=embedded"]) == {"ner": "./a", "embed": "embedded"}
    assert parse_model_options(["./model=v2"], ["qa"]) == {"qa": "./model=v2"}
    for values, tasks, needle in (
        (["./a"], [], "does not say which task"),
        (["./a"], ["ner", "qa"], "does not say which task"),
        (["ner="], [], "names no model"),
        (["ner=a", "ner=b"], [], "two models for ner"),
    ):
        with pytest.raises(UsageError, match=needle):
            parse_model_options(values, tasks)
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "192.168.1.5", "example.com"))
    with pytest.raises(UsageError, match="unknown task"):
        ServeConfig(tasks=("translate",))
    with pytest.raises(UsageError, match="needs an index"):
        ServeConfig(tasks=("search",))
    with pytest.raises(UsageError, match="--api-key is empty"):
        ServeConfig(api_key="  ")
    with pytest.raises(UsageError, match="--idle-ms must be between 0 and 10000"):
        ServeConfig(idle_ms=20_000)
    assert ServeConfig(index="idx").requested == ("search",)


# -- the embedded MiniLM ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_default_server_serves_offline_tasks_on_the_embedded_model(empty_hf_cache):
    from nlu_toolkit.tasks.classify import Classifier
    from nlu_toolkit.tasks.embed import Embedder, similarity

    with running(ServeConfig()) as client:
        assert client.get("/health").json()["tasks"] == ["classify", "embed", "similarity"]
        labels = ["positive", "negative"]
        got = client.post("/classify", json={"texts": TEXTS, "labels": labels}).json()
        want = [r.to_dict() for r in Classifier(None, labels=labels).predict(TEXTS)]
        assert_same(got, plain(want))
        assert got[0]["label"] == "positive"
        embedded = client.post("/embed", json={"text": TEXTS[0]}).json()["embedding"]
        vectors, _ = Embedder(None).encode([TEXTS[0]])
        assert embedded == pytest.approx(vectors[0].tolist(), abs=1e-5)
        pair = client.post("/similarity", json={"a": TEXTS[0], "b": TEXTS[2]}).json()
        assert pair["score"] == pytest.approx(similarity(TEXTS[0], TEXTS[2])[0]["score"], abs=1e-5)
        models = client.get("/models").json()
        assert models["embed"]["model"]["source"] == "embedded"
        assert models["classify"]["zero_shot_model"]["weights_sha256"] == models["embed"]["model"]["weights_sha256"]
        for task in ("ner", "qa"):
            assert not models[task]["served"] and f"--model {task}=PATH" in models[task]["hint"]
        assert "--index DIR" in models["search"]["hint"]
        assert_error(client.post("/classify", json={"text": "x"}), 503, "zero-shot only", "--model classify=PATH")
        health = client.get("/health").json()
        assert len(health["workers"]) == 1  # classify, embed and similarity share one MiniLM worker
