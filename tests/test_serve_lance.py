"""``nlu serve --index DIR.lance``: /search on a Lance table over real HTTP, with the ``where`` filter;
two servers (replicas) on one table at once; ``where`` on a folder index is a 422 (a usage error) naming the field."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("httpx")
pytest.importorskip("lancedb")

from lance_fixtures import LANCE_CORPUS
from test_serve import assert_error, assert_same, plain, running

from nlu_toolkit.search.lance_search import LanceIndex
from nlu_toolkit.serve import ServeConfig


@pytest.fixture(scope="module")
def api(lance_table) -> Iterator:
    with running(ServeConfig(index=lance_table, max_wait_ms=2)) as client:
        yield client


def test_search_on_a_lance_index_matches_the_library(api, lance_table):
    with LanceIndex.open(lance_table) as index:
        want = plain([r.to_dict() for r in index.search(["rivers and cities", "films"], top_k=2)])
    got = api.post("/search", json={"queries": ["rivers and cities", "films"], "top_k": 2})
    assert got.status_code == 200, got.text
    assert_same(got.json(), want)
    info = api.get("/models").json()["search"]["index"]
    assert info["backend"] == "lance" and info["count"] == len(LANCE_CORPUS)


def test_where_filters_the_hits(api):
    got = api.post("/search", json={"query": "films", "top_k": 3, "where": "topic = 'geo'"})
    assert got.status_code == 200, got.text
    assert [h["id"] for h in got.json()["hits"]] and {h["topic"] for h in got.json()["hits"]} == {"geo"}
    assert len(got.json()["hits"]) == 2


def test_a_bad_filter_is_a_422_naming_where(api):
    assert_error(api.post("/search", json={"query": "x", "where": "nope = 1"}), 422, "where")


def test_two_replicas_serve_one_table(lance_table):
    with running(ServeConfig(index=lance_table, max_wait_ms=2)) as one, running(ServeConfig(index=lance_table)) as two:
        a = one.post("/search", json={"query": "money", "top_k": 2})
        b = two.post("/search", json={"query": "money", "top_k": 2})
        assert a.status_code == b.status_code == 200
        assert a.json() == b.json()


def test_where_on_a_folder_index_is_a_422(st_model, tmp_path):
    from nlu_toolkit.search.index import SemanticIndex

    SemanticIndex.build(LANCE_CORPUS, st_model).save(tmp_path / "idx")
    with running(ServeConfig(index=str(tmp_path / "idx"))) as client:
        assert_error(client.post("/search", json={"query": "x", "where": "topic = 'geo'"}), 422, "where", "Lance")
