"""``/v1/embeddings`` and ``/v1/models`` with the real clients: the ``openai`` package and LangChain's
``OpenAIEmbeddings``, against a real server on loopback (uvicorn in a thread, the tiny
sentence-transformers model of conftest.py), with an API key sent as the bearer token.

Vectors equal the library's ``embed(..., normalize=True)`` (``nlu embed --normalize``); errors have
OpenAI's shape and make the clients raise their own exception types.
"""

from __future__ import annotations

import base64
import concurrent.futures
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
openai = pytest.importorskip("openai")

from schema_fuzz import fuzz_operation  # noqa: E402
from test_serve import running  # noqa: E402

from nlu_toolkit.serve import ServeConfig  # noqa: E402

KEY = "sk-test-key"
TEXTS = ["I loved this film", "the plot was boring", "John lives in Paris", ""]
MAX_ITEMS = 8


@pytest.fixture(scope="module")
def server(st_model) -> Iterator[Any]:
    config = ServeConfig(
        tasks=("embed",), models={"embed": st_model}, api_key=KEY, max_items=MAX_ITEMS, max_chars=2_000, max_wait_ms=2
    )
    with running(config) as client:
        client.headers["Authorization"] = f"Bearer {KEY}"
        yield client


@pytest.fixture(scope="module")
def client(server) -> Any:
    return openai.OpenAI(base_url=base(server), api_key=KEY, max_retries=0, timeout=60)


@pytest.fixture(scope="module")
def model_id(client) -> str:
    return client.models.list().data[0].id


def base(server: Any) -> str:
    """The OpenAI base URL of a running server: http://127.0.0.1:PORT/v1."""
    return str(server.base_url).rstrip("/") + "/v1"


def library(texts: list[str], model: str) -> np.ndarray:
    from nlu_toolkit.tasks.embed import embed

    return embed(texts, model, normalize=True)[1]


def tokens(texts: list[str], model: str) -> int:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model)
    return sum(len(ids) for ids in tokenizer(texts)["input_ids"])


def assert_openai_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert error["message"] and "\n" not in error["message"]
    if code is not None:
        assert error["code"] == code, error
    return error


# -- the openai client ---------------------------------------------------------------------------------


def test_models_list_the_served_embedding_model(client, st_model):
    from pathlib import Path

    models = client.models.list().data
    assert [m.id for m in models] == [Path(st_model).name]
    assert models[0].object == "model" and models[0].owned_by == "nlu_toolkit"
    assert client.models.retrieve(models[0].id).id == models[0].id
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("text-embedding-3-small")


def test_a_list_of_floats_equals_the_library_and_counts_tokens(client, model_id, st_model):
    got = client.embeddings.create(input=TEXTS, model=model_id, encoding_format="float")
    assert got.object == "list" and got.model == model_id
    assert [d.index for d in got.data] == list(range(len(TEXTS)))
    assert all(d.object == "embedding" for d in got.data)
    vectors = np.array([d.embedding for d in got.data], dtype=np.float32)
    np.testing.assert_allclose(vectors, library(TEXTS, st_model), atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)  # unit length, as OpenAI's
    assert got.usage.prompt_tokens == got.usage.total_tokens == tokens(TEXTS, st_model)


def test_one_string_and_the_clients_default_base64_equal_the_library(client, model_id, st_model):
    # Without encoding_format the client asks for base64 and decodes it itself.
    got = client.embeddings.create(input=TEXTS[0], model=model_id)
    assert len(got.data) == 1 and got.data[0].index == 0
    np.testing.assert_allclose(np.array(got.data[0].embedding), library(TEXTS[0:1], st_model)[0], atol=1e-5)
    assert got.usage.prompt_tokens == tokens(TEXTS[0:1], st_model)


def test_explicit_base64_is_little_endian_float32(client, model_id, st_model):
    got = client.embeddings.create(input=TEXTS[:2], model=model_id, encoding_format="base64")
    decoded = np.stack([np.frombuffer(base64.b64decode(d.embedding), dtype="<f4") for d in got.data])
    np.testing.assert_allclose(decoded, library(TEXTS[:2], st_model), atol=1e-5)


def test_the_spec_names_the_model_too_and_the_own_dimension_is_accepted(client, st_model):
    dimension = library(["x"], st_model).shape[1]
    got = client.embeddings.create(input=["a text"], model=st_model, dimensions=dimension, encoding_format="float")
    assert len(got.data[0].embedding) == dimension


def test_a_text_past_the_limit_is_cut_and_counted_cut(client, model_id, st_model):
    from nlu_toolkit.tasks.embed import Embedder

    limit = Embedder(st_model).limit
    long = " ".join(["word"] * (limit * 3))
    got = client.embeddings.create(input=[long], model=model_id, encoding_format="float")
    assert got.usage.prompt_tokens == limit
    np.testing.assert_allclose(np.array(got.data[0].embedding), library([long], st_model)[0], atol=1e-5)


def test_client_errors_raise_the_clients_exception_types(client, model_id, server):
    with pytest.raises(openai.NotFoundError) as e:
        client.embeddings.create(input="x", model="text-embedding-3-small")
    assert e.value.code == "model_not_found" and "text-embedding-3-small" in e.value.message
    for ids in ([1, 2, 3], [[1, 2], [3]]):
        with pytest.raises(openai.BadRequestError) as e:
            client.embeddings.create(input=ids, model=model_id)
        assert e.value.code == "unsupported_input" and e.value.param == "input"
        assert "token-id" in e.value.message and "check_embedding_ctx_length=False" in e.value.message
    with pytest.raises(openai.BadRequestError) as e:
        client.embeddings.create(input="x", model=model_id, dimensions=8)
    assert e.value.param == "dimensions" and "Matryoshka" in e.value.message
    wrong = openai.OpenAI(base_url=base(server), api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as e:
        wrong.embeddings.create(input="x", model=model_id)
    assert e.value.code == "invalid_api_key"
    with pytest.raises(openai.AuthenticationError):
        wrong.models.list()


# -- the raw answers -----------------------------------------------------------------------------------


def test_openai_shaped_errors_over_plain_http(server, model_id):
    import httpx

    body = {"input": "x", "model": model_id}
    no_key = httpx.post(base(server) + "/embeddings", json=body)
    assert_openai_error(no_key, 401, "invalid_api_key")
    assert no_key.headers["www-authenticate"] == "Bearer"
    assert_openai_error(server.post("/v1/embeddings", json={**body, "model": "nope"}), 404, "model_not_found")
    assert assert_openai_error(server.post("/v1/embeddings", json={"input": "x"}), 400)["param"] == "model"
    bad = server.post("/v1/embeddings", json={**body, "encoding_format": "int8"})
    assert assert_openai_error(bad, 400)["param"] == "encoding_format"
    assert_openai_error(server.post("/v1/embeddings", content=b"{not json"), 400, "invalid_json")
    assert_openai_error(server.post("/v1/embeddings", content=b'{"\xbe": 1}'), 400, "invalid_json")  # not UTF-8
    assert_openai_error(server.post("/v1/embeddings", json={**body, "input": []}), 400)
    assert assert_openai_error(server.post("/v1/embeddings", json={**body, "input": ["a", 3]}), 400)["param"] == "input"
    assert_openai_error(server.post("/v1/embeddings", json={**body, "input": ["a"] * (MAX_ITEMS + 1)}), 413)
    lone_surrogate = b'{"input": "\\ud800", "model": "%s"}' % model_id.encode()
    assert assert_openai_error(server.post("/v1/embeddings", content=lone_surrogate), 400)["param"] == "input"
    assert_openai_error(server.get("/v1/embeddings/nothing"), 404, "unknown_url")
    assert_openai_error(server.get("/v1/embeddings"), 405)
    # The native routes keep their own shape.
    assert set(server.post("/embed", json={}).json()) == {"error", "hint"}


def test_the_answer_has_openais_shape(server, model_id):
    got = server.post("/v1/embeddings", json={"input": ["a", "b"], "model": model_id, "user": "u-1"}).json()
    assert set(got) == {"object", "data", "model", "usage"}
    assert [set(d) for d in got["data"]] == [{"object", "index", "embedding"}] * 2
    assert set(got["usage"]) == {"prompt_tokens", "total_tokens"}
    schema = server.get("/openapi.json").json()
    assert {"/v1/embeddings", "/v1/models"} <= set(schema["paths"])


def test_v1_embeddings_batch_with_native_embed_on_one_worker(st_model):
    # A long wait keeps the batch open, so a /v1 request and an /embed request sent together share it.
    config = ServeConfig(tasks=("embed",), models={"embed": st_model}, max_wait_ms=2000, idle_ms=1000)
    with running(config) as api:
        model = api.get("/v1/models").json()["data"][0]["id"]

        def native() -> Any:
            return api.post("/embed", json={"texts": TEXTS[:2], "normalize": True}).json()

        def compatible() -> Any:
            return api.post("/v1/embeddings", json={"input": TEXTS[2:], "model": model}).json()

        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            a, b = pool.submit(native), pool.submit(compatible)
            native_out, openai_out = a.result(), b.result()
        (stats,) = api.get("/health").json()["workers"].values()
    assert stats["batches"] == 1 and stats["jobs"] == 2 and stats["items"] == 4
    vectors = [r["embedding"] for r in native_out] + [d["embedding"] for d in openai_out["data"]]
    np.testing.assert_allclose(np.array(vectors), library(TEXTS, st_model), atol=1e-5)


# -- LangChain -----------------------------------------------------------------------------------------


def test_langchain_openai_embeddings_equal_the_library(server, model_id, st_model):
    langchain_openai = pytest.importorskip("langchain_openai")
    embeddings = langchain_openai.OpenAIEmbeddings(
        model=model_id, base_url=base(server), api_key=KEY, check_embedding_ctx_length=False, max_retries=0
    )
    documents = embeddings.embed_documents(TEXTS[:3])
    np.testing.assert_allclose(np.array(documents), library(TEXTS[:3], st_model), atol=1e-5)
    query = embeddings.embed_query("Where does John live?")
    np.testing.assert_allclose(np.array(query), library(["Where does John live?"], st_model)[0], atol=1e-5)


def test_langchain_default_sends_token_ids_and_gets_a_clear_400(server, model_id, monkeypatch):
    langchain_openai = pytest.importorskip("langchain_openai")
    import tiktoken

    # tiktoken fetches its encodings from the internet; a byte-level one built here stands in for it,
    # so LangChain's default path (tokenize, then send the ids) runs offline as it would online.
    encoding = tiktoken.Encoding(
        "bytes", pat_str=r"\S+|\s+", mergeable_ranks={bytes([i]): i for i in range(256)}, special_tokens={}
    )
    monkeypatch.setattr(tiktoken, "get_encoding", lambda name: encoding)
    monkeypatch.setattr(tiktoken, "encoding_for_model", lambda name: encoding)
    embeddings = langchain_openai.OpenAIEmbeddings(model=model_id, base_url=base(server), api_key=KEY, max_retries=0)
    with pytest.raises(openai.BadRequestError) as e:
        embeddings.embed_documents(["a text"])
    assert e.value.status_code == 400 and "check_embedding_ctx_length=False" in e.value.message


# -- fuzzing from the published schema -----------------------------------------------------------------


@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_schemathesis_finds_no_server_error_or_schema_violation_on_v1_embeddings(server, mode):
    schemathesis = pytest.importorskip("schemathesis")
    base = str(server.base_url).rstrip("/")
    operation = schemathesis.openapi.from_url(f"{base}/openapi.json")["/v1/embeddings"]["POST"]
    fuzz_operation(operation, base, mode, examples=15, headers={"Authorization": f"Bearer {KEY}"})
