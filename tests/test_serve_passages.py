"""``per_document`` over a passage index: the ``/search`` body field on a real server, and the app's search.

The server answers as the library does; requests with and without ``per_document`` sent together are
batched apart (each gets its own kind of hits)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("httpx")

from test_serve import assert_same, plain, running

from nlu_toolkit.search.index import SemanticIndex
from nlu_toolkit.serve import ServeConfig

# "many": 12 passages that all equal the query, so without collapsing they fill the hits
CORPUS = [
    {"id": "many", "text": " ".join(["q r s."] * 12), "topic": "m"},
    {"id": "one", "text": "q r s t", "topic": "o"},
    {"id": "two", "text": "z y x w v", "topic": "t"},
]


@pytest.fixture(scope="module")
def folder(st_model, tmp_path_factory) -> str:
    with SemanticIndex.build(CORPUS, st_model, passages=4, overlap=1) as index:
        return str(index.save(tmp_path_factory.mktemp("passages") / "idx"))


@pytest.fixture(scope="module")
def api(folder) -> Iterator:
    with running(ServeConfig(index=folder, max_wait_ms=20)) as client:
        yield client


def test_search_per_document_matches_the_library_and_is_batched_apart(api, folder):
    with SemanticIndex.load(folder) as index:
        want_docs = plain([r.to_dict() for r in index.search(["q r s."], top_k=3, per_document=True)])[0]
        want_rows = plain([r.to_dict() for r in index.search(["q r s."], top_k=3)])[0]
    bodies = [{"query": "q r s.", "top_k": 3, "per_document": True}, {"query": "q r s.", "top_k": 3}] * 3
    with ThreadPoolExecutor(len(bodies)) as pool:
        replies = list(pool.map(lambda body: api.post("/search", json=body), bodies))
    for body, reply in zip(bodies, replies, strict=True):
        assert reply.status_code == 200, reply.text
        assert_same(reply.json(), want_docs if body.get("per_document") else want_rows)
    assert sorted(h["parent_id"] for h in want_docs["hits"]) == ["many", "one", "two"]
    assert {h["parent_id"] for h in want_rows["hits"]} == {"many"}


def test_per_document_must_be_a_boolean(api):
    reply = api.post("/search", json={"query": "q", "per_document": "sometimes"})
    assert reply.status_code == 422 and "per_document" in reply.text


def test_app_search_per_document(folder):
    pytest.importorskip("gradio")
    from nlu_toolkit.app.config import AppConfig
    from nlu_toolkit.app.services import AppBackend

    backend = AppBackend(AppConfig(index=folder, device="cpu"))
    rows = backend.search("q r s.", 3, None, None, True)
    assert sorted(row[2].split("#")[0] for row in rows) == ["many", "one", "two"]  # the id column: "{parent}#{k}"
    assert len({row[2].split("#")[0] for row in backend.search("q r s.", 3)}) == 1
