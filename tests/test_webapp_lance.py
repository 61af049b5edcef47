"""``nlu app --index DIR.lance``: the app's backend searches and clusters a Lance index."""

from __future__ import annotations

import pytest

pytest.importorskip("lancedb")

from lance_fixtures import LANCE_CORPUS

from nlu_toolkit.app.config import AppConfig
from nlu_toolkit.app.services import AppBackend
from nlu_toolkit.search.lance_search import LanceIndex


def test_the_app_searches_a_lance_index_like_the_library(st_model, lance_table):
    backend = AppBackend(AppConfig(index=lance_table, embed_model=st_model, device="cpu"))
    assert backend.index is not None and len(backend.index) == len(LANCE_CORPUS)
    rows = backend.search("a city by a river", top_k=3)
    with LanceIndex.open(lance_table) as index:
        want = [h.doc["id"] for h in index.search("a city by a river", top_k=3)[0].hits]
    assert [row[2] for row in rows] == want
    assert backend.index.embeddings.shape == (len(LANCE_CORPUS), backend.index.record["dimension"])
