"""The small Lance index the Lance tests of the CLI, the server and the app share (``conftest`` imports the
fixture): four records with a ``topic`` passthrough column, embedded with the tiny ``st_model``.

The table is built once per session and read by many tests: a test that changes a table copies it first.
"""

from __future__ import annotations

import pytest

LANCE_CORPUS = [
    {"id": "d1", "text": "the capital of france is paris", "topic": "geo"},
    {"id": "d2", "text": "john loved the movie", "topic": "film"},
    {"id": "d3", "text": "money in the bank", "topic": "money"},
    {"id": "d4", "text": "a river in london", "topic": "geo"},
]


@pytest.fixture(scope="session")
def lance_table(st_model: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """``…/corpus.lance``: `LANCE_CORPUS` as a Lance index (read-only: copy it to change it)."""
    pytest.importorskip("lancedb")
    from nlu_toolkit.search.lance_search import LanceIndex

    uri = str(tmp_path_factory.mktemp("lance-index") / "corpus.lance")
    LanceIndex.create(uri, LANCE_CORPUS, st_model).close()
    return uri
