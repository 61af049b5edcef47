"""The library search(): a corpus or a saved index, one call, the same hits as the CLI (issue 14, item 3)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import nlu_toolkit
from nlu_toolkit.cli.app import app
from nlu_toolkit.errors import InputError, UsageError
from nlu_toolkit.search.api import open_index, search

CORPUS = ["Refunds take five days.", "Shipping is free over fifty euros.", "Reset your password by email."]


def test_search_a_corpus_and_a_saved_index_alike(st_model, tmp_path):
    from nlu_toolkit import search as exported

    by_corpus = search(["refund", "password"], corpus=CORPUS, model=st_model, top_k=2)
    assert [len(r.hits) for r in by_corpus] == [2, 2]
    with open_index(corpus=CORPUS, model=st_model) as index:
        index.save(tmp_path / "idx")
    by_index = exported("refund", index=tmp_path / "idx", top_k=2)  # the package root's search is callable
    assert [h.doc["id"] for h in by_index[0].hits] == [h.doc["id"] for h in by_corpus[0].hits]
    assert (
        nlu_toolkit.search("refund", index=str(tmp_path / "idx"), top_k=1)[0].hits[0].doc["id"]
        == by_index[0].hits[0].doc["id"]
    )


def test_search_a_corpus_file_matches_the_cli(st_model, data_dir):
    corpus = data_dir / "corpus.jsonl"
    ours = search("I forgot my password", corpus=corpus, model=st_model, top_k=3)
    result = CliRunner().invoke(
        app, ["embed", "--search", "I forgot my password", "--corpus", str(corpus), "-m", st_model, "--top-k", "3"]
    )
    assert result.exit_code == 0, result.stderr
    (cli,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert [h["id"] for h in cli["hits"]] == [h.doc["id"] for h in ours[0].hits]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"corpus": CORPUS, "index": "x"}, UsageError, "exactly one of corpus or index"),
        ({}, UsageError, "exactly one of corpus or index"),
        ({"corpus": CORPUS, "queries": "  "}, InputError, "query 0 is empty"),
        ({"corpus": CORPUS, "queries": []}, InputError, "queries is empty"),
    ],
)
def test_search_refuses_bad_calls_before_loading_a_model(kwargs, error, match):
    queries = kwargs.pop("queries", "refund")
    with pytest.raises(error, match=match):
        search(queries, model="no/such-model-is-loaded", **kwargs)


def test_kind_names_the_index_kind_and_index_backend_is_deprecated(st_model, tmp_path):
    from nlu_toolkit import RunOptions

    with open_index(corpus=CORPUS, model=st_model, kind="exact", run=RunOptions(device="cpu")) as index:
        assert index.kind == "exact"
        index.save(tmp_path / "idx")
    with pytest.warns(DeprecationWarning, match="kind="):
        old = search("refund", corpus=CORPUS, model=st_model, index_backend="exact", top_k=1)
    assert old[0].hits[0].doc["id"] == search("refund", corpus=CORPUS, model=st_model, top_k=1)[0].hits[0].doc["id"]
    with pytest.raises(UsageError, match=r"^kind applies when building an index"):
        search("refund", index=tmp_path / "idx", kind="usearch")
    # A loaded index keeps its own token limit: max_length does not apply to it (and is no error).
    assert search("refund", index=tmp_path / "idx", max_length=8, top_k=1)[0].hits
