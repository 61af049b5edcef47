"""Hugging Face text-embeddings-inference (TEI) routes and /v1/rerank, on a real server on 127.0.0.1.

Request bodies are TEI's published examples, copied as data: the ``example`` values of TEI's OpenAPI
document (huggingface/text-embeddings-inference, docs/openapi.json, 1.6.0: ``RerankRequest``,
``PredictInput``, ``Rank``, ``SimpleToken``, ``Info``) and the curl lines of its README ("Using
Re-rankers models", "Using Sequence Classification models", "Batching"). The /v1/rerank body is
Cohere's rerank example (docs.cohere.com, "Rerank", v1).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from schema_fuzz import fuzz_operation  # noqa: E402
from test_serve import running  # noqa: E402

from nlu_toolkit.errors import UsageError  # noqa: E402
from nlu_toolkit.serve import ServeConfig  # noqa: E402

# -- TEI's published examples --------------------------------------------------------------------

#: README, "Batching": curl 127.0.0.1:8080/embed -d '{"inputs":["Today is a nice day", "I like you"]}'
EMBED_BATCH = {"inputs": ["Today is a nice day", "I like you"]}
#: README, "Using Re-rankers models".
RERANK = {"query": "What is Deep Learning?", "texts": ["Deep Learning is not...", "Deep learning is..."]}
#: OpenAPI, RerankRequest's examples (query, texts, raw_scores, return_text).
RERANK_OPENAPI = {"query": "What is Deep Learning?", "texts": ["Deep Learning is ..."], "raw_scores": False}
#: README, "Using Sequence Classification models": one text; OpenAPI PredictInput: a pair; a batch.
PREDICT_ONE = {"inputs": "I like you."}
PREDICT_PAIR = {"inputs": ["What is Deep Learning?", "Deep Learning is ..."]}
PREDICT_BATCH = {"inputs": [["I like you."], ["What is Deep Learning?", "Deep Learning is ..."]]}
#: OpenAPI, TokenizeRequest / SimpleToken: {"inputs": "test"} -> [[{"id", "text", "special", "start", "stop"}]].
TOKENIZE = {"inputs": "test", "add_special_tokens": True}
#: OpenAPI, Info's required fields.
INFO_FIELDS = {
    "model_id",
    "model_dtype",
    "model_type",
    "max_concurrent_requests",
    "max_input_length",
    "max_batch_tokens",
    "max_client_batch_size",
    "auto_truncate",
    "tokenization_workers",
    "version",
}
#: Cohere's rerank example (v1).
COHERE = {
    "model": "rerank-english-v3.0",
    "query": "What is the capital of the United States?",
    "top_n": 3,
    "documents": [
        "Carson City is the capital city of the American state of Nevada.",
        "The Commonwealth of the Northern Mariana Islands is a group of islands in the Pacific Ocean. "
        "Its capital is Saipan.",
        "Washington, D.C. (also known as simply Washington or D.C., and officially as the District of Columbia) "
        "is the capital of the United States. It is a federal district.",
        "Capital punishment (the death penalty) has existed in the United States since before the United States "
        "was a country. As of 2017, capital punishment is legal in 30 of the 50 states.",
    ],
}
LONG = " ".join(["the plot was boring and the film was long"] * 20)  # well over the tiny models' 64 tokens


def tei_error(response: httpx.Response, status: int, error_type: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) <= {"error", "error_type", "hint"} and body["error_type"] == error_type, body
    assert isinstance(body["error"], str) and body["error"]
    return body


@pytest.fixture(scope="module")
def tei(st_model, cross_encoder_model) -> Iterator[httpx.Client]:
    config = ServeConfig(
        tasks=("embed", "rerank"), models={"embed": st_model, "rerank": cross_encoder_model}, max_items=8
    )
    with running(config) as client:
        yield client


@pytest.fixture(scope="module")
def classifier_only(cls_model) -> Iterator[httpx.Client]:
    """A server whose one model is a two-label classifier (TEI's model_type classifier), as classify and rerank:
    /predict runs the classify model, /rerank refuses a model that is not a re-ranker."""
    with running(
        ServeConfig(tasks=("classify", "rerank"), models={"classify": cls_model, "rerank": cls_model})
    ) as client:
        yield client


# -- /embed --------------------------------------------------------------------------------------


def test_tei_embed_equals_nlu_embed_and_the_old_body_still_works(tei, st_model):
    from nlu_toolkit.tasks.embed import embed

    texts = EMBED_BATCH["inputs"]
    _, unit = embed(texts, st_model, normalize=True)
    _, raw = embed(texts, st_model, normalize=False)
    got = tei.post("/embed", json=EMBED_BATCH)
    assert got.status_code == 200
    vectors = got.json()
    assert isinstance(vectors, list) and all(isinstance(v, list) for v in vectors)  # EmbedResponse: [[float]]
    np.testing.assert_allclose(vectors, unit, rtol=1e-5, atol=1e-6)  # normalize defaults to true, as TEI
    np.testing.assert_allclose(tei.post("/embed", json={**EMBED_BATCH, "normalize": False}).json(), raw, atol=1e-6)
    one = tei.post("/embed", json={"inputs": texts[0]}).json()
    assert len(one) == 1 and np.allclose(one[0], unit[0], atol=1e-6)  # a single input is a list of one vector
    old = tei.post("/embed", json={"texts": texts}).json()  # our shape: records
    assert [r["id"] for r in old] == [0, 1] and np.allclose([r["embedding"] for r in old], raw, atol=1e-6)
    assert np.allclose(tei.post("/embed", json={"text": texts[0]}).json()["embedding"], raw[0], atol=1e-6)


def test_tei_embed_from_the_huggingface_hub_client(tei, st_model, monkeypatch):
    """huggingface_hub's InferenceClient (what LangChain's HuggingFaceEndpointEmbeddings calls) on /embed."""
    hub = pytest.importorskip("huggingface_hub")
    from nlu_toolkit.tasks.embed import embed

    monkeypatch.setattr(hub.constants, "HF_HUB_OFFLINE", False)  # the session is offline; this server is local
    client = hub.InferenceClient(model=str(tei.base_url).rstrip("/") + "/embed")
    got = client.feature_extraction(EMBED_BATCH["inputs"][1])
    _, want = embed([EMBED_BATCH["inputs"][1]], st_model, normalize=True)
    np.testing.assert_allclose(got, want, atol=1e-6)


def test_tei_embed_truncates_only_when_asked(tei, st_model):
    from nlu_toolkit.tasks.embed import embed

    body = tei_error(tei.post("/embed", json={"inputs": [LONG]}), 413, "Validation")
    assert "tokens" in body["error"] and "truncate" in body["hint"]
    got = tei.post("/embed", json={"inputs": [LONG], "truncate": True})
    records, want = embed([LONG], st_model, normalize=True)
    assert records[0]["truncated"] and np.allclose(got.json(), want, atol=1e-6)


def test_tei_embed_errors(tei):
    tei_error(tei.post("/embed", json={"inputs": []}), 400, "Empty")
    tei_error(tei.post("/embed", json={"inputs": ["a"] * 9}), 413, "Validation")  # max_items 8
    for bad in ({"inputs": "a", "text": "b"}, {"text": "a", "truncate": True}, {"inputs": 3}, {"inputs": None}):
        response = tei.post("/embed", json=bad)
        assert response.status_code == 422 and response.json()["error"], bad
    assert tei.post("/embed", json={"inputs": "a", "truncation_direction": "Left"}).status_code == 422


# -- /rerank -------------------------------------------------------------------------------------


def test_tei_rerank_scores_are_the_search_rerankers(tei, st_model, cross_encoder_model):
    from nlu_toolkit.search.api import search

    got = tei.post("/rerank", json=RERANK)
    assert got.status_code == 200
    ranks = got.json()
    assert sorted(r["index"] for r in ranks) == [0, 1] and all(set(r) == {"index", "score"} for r in ranks)
    assert [r["score"] for r in ranks] == sorted((r["score"] for r in ranks), reverse=True)  # best first
    # The library's reranker on the same pairs: search with rerank re-scores every hit with the cross-encoder.
    [result] = search(RERANK["query"], corpus=RERANK["texts"], model=st_model, top_k=2, rerank=cross_encoder_model)
    library = {h.doc["text"]: h.score for h in result.hits}
    for r in ranks:
        assert r["score"] == pytest.approx(library[RERANK["texts"][r["index"]]], abs=1e-6)
    raw = {r["index"]: r["score"] for r in tei.post("/rerank", json={**RERANK, "raw_scores": True}).json()}
    for r in ranks:  # raw_scores false is the sigmoid of the logit, as TEI
        assert r["score"] == pytest.approx(1 / (1 + np.exp(-raw[r["index"]])), abs=1e-6)
    texts = tei.post("/rerank", json={**RERANK_OPENAPI, "return_text": True}).json()
    assert texts[0]["text"] == RERANK_OPENAPI["texts"][0] and texts[0]["index"] == 0


def test_tei_rerank_errors(tei, classifier_only):
    tei_error(tei.post("/rerank", json={**RERANK, "texts": []}), 400, "Empty")
    tei_error(tei.post("/rerank", json={**RERANK, "texts": ["x"] * 9}), 413, "Validation")
    tei_error(tei.post("/rerank", json={**RERANK, "texts": [LONG]}), 413, "Validation")
    assert tei.post("/rerank", json={**RERANK, "texts": [LONG], "truncate": True}).status_code == 200
    assert tei.post("/rerank", json={"query": "q"}).status_code == 422  # texts missing
    body = tei_error(classifier_only.post("/rerank", json=RERANK), 424, "Backend")
    assert body["error"] == "model is not a re-ranker model"  # TEI's words
    tei_error(classifier_only.post("/embed", json=EMBED_BATCH), 424, "Backend")  # no embed model here


# -- /v1/rerank ----------------------------------------------------------------------------------


def test_v1_rerank_cohere_shape_top_n_and_documents(tei):
    got = tei.post("/v1/rerank", json={**COHERE, "return_documents": True})
    assert got.status_code == 200
    body = got.json()
    results = body["results"]
    assert len(results) == 3 and body["model"]
    scores = [r["relevance_score"] for r in results]
    assert scores == sorted(scores, reverse=True)
    tei_scores = {r["index"]: r["score"] for r in tei.post("/rerank", json={**RERANK, **_as_tei(COHERE)}).json()}
    for r in results:
        assert set(r) == {"index", "relevance_score", "document"}
        assert r["document"] == {"text": COHERE["documents"][r["index"]]}
        assert r["relevance_score"] == pytest.approx(tei_scores[r["index"]], abs=1e-9)
    # Jina-style: documents as objects, no top_n (every document), no documents back by default.
    objects = {"query": COHERE["query"], "documents": [{"text": d} for d in COHERE["documents"]]}
    plain = tei.post("/v1/rerank", json=objects).json()["results"]
    assert len(plain) == 4 and all(set(r) == {"index", "relevance_score"} for r in plain)
    assert tei.post("/v1/rerank", json={**COHERE, "top_n": 0}).status_code == 422


def _as_tei(cohere: dict) -> dict:
    return {"query": cohere["query"], "texts": cohere["documents"], "truncate": True}  # /v1/rerank truncates


# -- /predict ------------------------------------------------------------------------------------


def test_tei_predict_shapes_and_scores(classifier_only, cls_model):
    from nlu_toolkit.tasks.classify import Classifier

    one = classifier_only.post("/predict", json=PREDICT_ONE).json()
    assert [set(p) for p in one] == [{"label", "score"}] * 2 and one[0]["score"] >= one[1]["score"]
    [want] = Classifier(cls_model).predict([PREDICT_ONE["inputs"]])
    assert {p["label"]: p["score"] for p in one} == pytest.approx(
        {ls.label: ls.score for ls in want.labels}, abs=1e-5
    )  # softmax, as the library's classifier
    pair = classifier_only.post("/predict", json=PREDICT_PAIR).json()
    assert len(pair) == 2 and sum(p["score"] for p in pair) == pytest.approx(1.0)  # a pair is one input
    batch = classifier_only.post("/predict", json=PREDICT_BATCH).json()
    assert len(batch) == 2 and all(len(b) == 2 for b in batch)
    assert {p["label"]: p["score"] for p in batch[0]} == pytest.approx({p["label"]: p["score"] for p in one})
    assert {p["label"]: p["score"] for p in batch[1]} == pytest.approx({p["label"]: p["score"] for p in pair})
    raw = classifier_only.post("/predict", json={**PREDICT_ONE, "raw_scores": True}).json()
    logits = np.array([p["score"] for p in sorted(raw, key=lambda p: p["label"])])
    soft = np.exp(logits) / np.exp(logits).sum()
    assert soft == pytest.approx([p["score"] for p in sorted(one, key=lambda p: p["label"])], abs=1e-6)


def test_tei_predict_on_a_reranker_and_errors(tei, classifier_only):
    scored = tei.post("/predict", json=PREDICT_PAIR).json()
    reranked = tei.post("/rerank", json={"query": PREDICT_PAIR["inputs"][0], "texts": PREDICT_PAIR["inputs"][1:]})
    assert [p["label"] for p in scored] == ["score"]
    assert scored[0]["score"] == pytest.approx(reranked.json()[0]["score"], abs=1e-5)
    tei_error(classifier_only.post("/predict", json={"inputs": ["a", "b", "c"]}), 413, "Validation")
    tei_error(classifier_only.post("/predict", json={"inputs": [["a", "b", "c"]]}), 413, "Validation")
    tei_error(classifier_only.post("/predict", json={"inputs": [LONG]}), 413, "Validation")
    assert classifier_only.post("/predict", json={"inputs": []}).status_code in (400, 422)


# -- /tokenize and /info -------------------------------------------------------------------------


def test_tei_tokenize_shape(tei, st_model):
    from transformers import AutoTokenizer

    tokens = tei.post("/tokenize", json=TOKENIZE).json()
    assert len(tokens) == 1  # TokenizeResponse is a list per input, a single input too
    ids = AutoTokenizer.from_pretrained(st_model)("test")["input_ids"]
    assert [t["id"] for t in tokens[0]] == ids
    for t in tokens[0]:
        assert set(t) == {"id", "text", "special", "start", "stop"}
        if t["special"]:
            assert t["start"] is None and t["stop"] is None
        else:
            assert TOKENIZE["inputs"][t["start"] : t["stop"]] == t["text"]
    assert tokens[0][0]["special"] and tokens[0][-1]["special"]
    bare = tei.post("/tokenize", json={"inputs": ["test", "I like you"], "add_special_tokens": False}).json()
    assert len(bare) == 2 and not any(t["special"] for row in bare for t in row)
    tei_error(tei.post("/tokenize", json={"inputs": []}), 400, "Empty")


def test_tei_info_shape(tei, classifier_only, st_model):
    from nlu_toolkit.models.resolver import locate, weights_sha256

    info = tei.get("/info").json()
    assert set(info) >= INFO_FIELDS
    assert info["model_type"] == {"embedding": {"pooling": "mean"}}
    assert info["model_sha"] == weights_sha256(locate(st_model, "sentence-embedding"))
    assert info["max_input_length"] == 64 and info["max_client_batch_size"] == 8 and info["auto_truncate"] is False
    other = classifier_only.get("/info").json()
    assert other["model_type"] == {"classifier": {"id2label": {"0": "NEGATIVE", "1": "POSITIVE"},
                                                  "label2id": {"NEGATIVE": 0, "POSITIVE": 1}}}  # fmt: skip


def test_task_rerank_needs_a_model():
    with pytest.raises(UsageError, match="rerank"):
        ServeConfig(tasks=("rerank",))


FUZZED = [("GET", "/info", "positive")] + [
    ("POST", path, mode)
    for path in ("/embed", "/rerank", "/predict", "/tokenize", "/v1/rerank")
    for mode in ("positive", "negative")
]


@pytest.mark.parametrize(("method", "path", "mode"), FUZZED, ids=[" ".join(c) for c in FUZZED])
def test_schemathesis_finds_no_server_error_or_schema_violation_on_the_tei_routes(tei, method, path, mode):
    """As tests/test_serve_fuzz.py, on this module's server (embed and rerank models): the published
    schemas of the TEI routes say what they take and answer."""
    schemathesis = pytest.importorskip("schemathesis")
    pytest.importorskip("hypothesis")
    base = str(tei.base_url).rstrip("/")
    operation = schemathesis.openapi.from_url(f"{base}/openapi.json")[path][method]
    fuzz_operation(operation, base, mode, examples=10, shrink=False)


def test_concurrent_tei_requests_all_succeed(tei):
    """Token counts and /tokenize run on the event loop while the workers tokenize: none may fail."""
    from concurrent.futures import ThreadPoolExecutor

    calls = [
        ("/rerank", RERANK),
        ("/predict", PREDICT_BATCH),
        ("/tokenize", {"inputs": EMBED_BATCH["inputs"]}),
        ("/embed", EMBED_BATCH),
        ("/v1/rerank", COHERE),
    ] * 8

    def post(call):
        with httpx.Client(base_url=tei.base_url, timeout=60) as client:
            return client.post(call[0], json=call[1]).status_code

    with ThreadPoolExecutor(16) as pool:
        assert set(pool.map(post, calls)) == {200}
