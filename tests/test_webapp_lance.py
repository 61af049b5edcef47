"""``nlu app --index DIR.lance``: the app's backend searches and clusters a Lance index."""

from __future__ import annotations

import pytest

pytest.importorskip("lancedb")

from nlu_toolkit.app.config import AppConfig
from nlu_toolkit.app.services import AppBackend
from nlu_toolkit.search.lance_search import LanceIndex

CORPUS = [
    {"id": "d1", "text": "the capital of france is paris", "topic": "geo"},
    {"id": "d2", "text": "john loved the movie", "topic": "film"},
    {"id": "d3", "text": "money in the bank", "topic": "money"},
    {"id": "d4", "text": "a river in london", "topic": "geo"},
]


def test_the_app_searches_a_lance_index_like_the_library(st_model, tmp_path):
    uri = str(tmp_path / "corpus.lance")
    LanceIndex.create(uri, CORPUS, st_model).close()
    backend = AppBackend(AppConfig(index=uri, embed_model=st_model, device="cpu"))
    assert backend.index is not None and len(backend.index) == len(CORPUS)
    rows = backend.search("a city by a river", top_k=3)
    with LanceIndex.open(uri) as index:
        want = [h.doc["id"] for h in index.search("a city by a river", top_k=3)[0].hits]
    assert [row[2] for row in rows] == want
    assert backend.index.embeddings.shape == (len(CORPUS), backend.index.record["dimension"])
