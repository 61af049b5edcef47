"""schemathesis fuzzes `nlu serve` from its own published schema (/openapi.json).

A real server (uvicorn in a thread, with the HTTP protocol `nlu serve` runs, on a free
loopback port) serves every task on the tiny models of conftest.py. For each operation,
schemathesis generates bounded, derandomized requests, valid by the schema (positive) and
invalid (negative), and checks every answer: no 5xx, a status code the schema declares,
the declared content type, and a body that matches the declared response schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
hypothesis = pytest.importorskip("hypothesis")

from schema_fuzz import fuzz_operation  # noqa: E402
from test_serve import CORPUS, running  # noqa: E402

from nlu_toolkit.serve import ServeConfig  # noqa: E402

#: Generated requests per operation and mode: enough to reach every body shape, few enough that
#: the whole file runs in about a minute on 2 cores.
EXAMPLES = 25
POSTS = ["/classify", "/ner", "/qa", "/embed", "/similarity", "/search"]
#: (method, path, mode); a GET without parameters has no invalid request to generate.
CASES = [("GET", path, "positive") for path in ("/health", "/models")] + [
    ("POST", path, mode) for path in POSTS for mode in ("positive", "negative")
]


@pytest.fixture(scope="module")
def fuzz_server(nli_model, ner_model, qa_model, st_model, tmp_path_factory) -> Iterator[tuple[Any, str]]:
    from nlu_toolkit.search.index import SemanticIndex

    folder = tmp_path_factory.mktemp("fuzz") / "index"
    SemanticIndex.build(CORPUS, st_model).save(folder)
    config = ServeConfig(
        # classify on an NLI model serves both its own labels and zero-shot labels.
        models={"classify": nli_model, "ner": ner_model, "qa": qa_model, "embed": st_model, "similarity": st_model},
        index=str(folder),
        max_items=8,
        max_labels=8,
        max_work=32,
        max_chars=2_000,
        max_wait_ms=1,
        idle_ms=0,
    )
    with running(config) as client:
        base = str(client.base_url).rstrip("/")
        yield schemathesis.openapi.from_url(f"{base}/openapi.json"), base


@pytest.mark.parametrize(("method", "path", "mode"), CASES, ids=[" ".join(c) for c in CASES])
def test_schemathesis_finds_no_server_error_or_schema_violation(fuzz_server, method, path, mode):
    schema, base = fuzz_server
    fuzz_operation(schema[path][method], base, mode, examples=EXAMPLES)
