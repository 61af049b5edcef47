"""``nlu index build --passages N --overlap M``, ``nlu index add|delete`` on a passage index and
``nlu embed --search --per-document``; the options' usage errors (exit 2, before any model loads)."""

from __future__ import annotations

import json
import shutil

import pytest
from cli_checks import check_error, check_ok, docs_of, jsonl, write_jsonl

LONG = "a b c d. e f g. h i j k l m n o p q. r s t.\n\nu v w x y z."
DOCS = [
    {"id": "long", "text": LONG, "topic": "letters"},
    {"id": "money", "text": "bank money", "topic": "money"},
    {"id": "geo", "text": "river  bank\nlondon", "topic": "geo"},
]


@pytest.fixture(scope="module")
def built(st_model, tmp_path_factory):
    from typer.testing import CliRunner

    from nlu_toolkit.cli.app import app

    folder = tmp_path_factory.mktemp("passages")
    corpus = write_jsonl(folder / "corpus.jsonl", DOCS)
    out = folder / "idx"
    args = ["index", "build", corpus, "--out", str(out), "--model", st_model, "--passages", "6", "--overlap", "2"]
    check_ok(CliRunner().invoke(app, args))
    return out


@pytest.fixture
def index(built, tmp_path):
    copy = tmp_path / "idx"
    shutil.copytree(built, copy)
    return copy


def test_build_writes_passages_with_parents_offsets_and_the_settings(built, nlu):
    docs = docs_of(built)
    parents = {d["id"]: d for d in DOCS}
    for doc in docs:
        parent = parents[doc["parent_id"]]
        assert parent["text"][doc["start"] : doc["end"]] == doc["text"]
        assert doc["topic"] == parent["topic"] and doc["id"].startswith(doc["parent_id"] + "#")
    assert len([d for d in docs if d["parent_id"] == "long"]) == 8
    info = nlu("index", "info", built, "--format", "json")
    check_ok(info)
    assert json.loads(info.stdout)[0]["passages"] == {"tokens": 6, "overlap": 2}


def test_add_splits_the_same_way_and_replaces_a_parents_passages(nlu, built, index, tmp_path):
    more = write_jsonl(
        tmp_path / "more.jsonl", [{"id": "long", "text": "x y", "topic": "t"}, {"id": "l2", "text": LONG}]
    )
    result = nlu("index", "add", index, more)
    check_ok(result)
    assert "added 1, replaced 1" in result.stderr
    docs = docs_of(index)
    assert [d["text"] for d in docs if d["parent_id"] == "long"] == ["x y"]
    at_build = [(d["text"], d["start"], d["end"]) for d in docs_of(built) if d["parent_id"] == "long"]
    assert [(d["text"], d["start"], d["end"]) for d in docs if d["parent_id"] == "l2"] == at_build


def test_delete_a_parent_removes_all_its_passages(nlu, index):
    result = nlu("index", "delete", index, "long", "nope")
    check_ok(result)
    assert "deleted 1 (1 not found: nope)" in result.stderr
    assert {d["parent_id"] for d in docs_of(index)} == {"money", "geo"}


def test_search_per_document_gives_distinct_parents(nlu, built):
    plain = nlu("embed", "--search", "a b c d e f", "--index", built, "-k", "3", "-f", "jsonl")
    check_ok(plain)
    collapsed = nlu("embed", "--search", "a b c d e f", "--index", built, "-k", "3", "--per-document", "-f", "jsonl")
    check_ok(collapsed)
    hits = jsonl(collapsed.stdout)[0]["hits"]
    assert sorted(h["parent_id"] for h in hits) == ["geo", "long", "money"]
    assert [h["rank"] for h in hits] == [1, 2, 3]
    best = {}
    for hit in jsonl(nlu("embed", "--search", "a b c d e f", "--index", built, "-k", "20", "-f", "jsonl").stdout)[0][
        "hits"
    ]:
        best.setdefault(hit["parent_id"], hit["id"])
    assert [h["id"] for h in hits] == list(best.values())


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--passages", "6", "--overlap", "6"], "--overlap (6) must be smaller than --passages (6)"),
        (["--passages", "0"], "--passages must be a whole number of tokens, at least 1"),
        (["--overlap", "3"], "--overlap applies to passages"),
        (["--passages", "5", "--overlap", "-1"], "--overlap must be a whole number of tokens, at least 0"),
    ],
)
def test_bad_passage_options_are_usage_errors_before_the_model_loads(nlu, tmp_path, args, words):
    corpus = write_jsonl(tmp_path / "c.jsonl", DOCS)
    result = nlu("index", "build", corpus, "--out", tmp_path / "idx", "--model", "no-such-model-folder", *args)
    check_error(result, 2, contains=words)
    assert not (tmp_path / "idx").exists()


def test_passages_longer_than_the_model_embeds(nlu, st_model, tmp_path):
    corpus = write_jsonl(tmp_path / "c.jsonl", DOCS)
    result = nlu("index", "build", corpus, "--out", tmp_path / "idx", "--model", st_model, "--passages", "500")
    check_error(result, 2, contains="--passages 500 is longer than the model embeds")
    assert not (tmp_path / "idx").exists()


def test_lance_build_add_and_per_document_search(nlu, st_model, tmp_path):
    pytest.importorskip("lancedb")
    corpus = write_jsonl(tmp_path / "c.jsonl", DOCS)
    table = tmp_path / "p.lance"
    check_ok(nlu("index", "build", corpus, "--out", table, "--model", st_model, "--passages", "6", "--overlap", "2"))
    more = write_jsonl(tmp_path / "more.jsonl", [{"id": "long", "text": "x y", "topic": "t"}])
    added = nlu("index", "add", table, more)
    check_ok(added)
    assert "added 0, replaced 1" in added.stderr
    found = nlu("embed", "--search", "bank", "--index", table, "-k", "5", "--per-document", "-f", "jsonl")
    check_ok(found)
    hits = jsonl(found.stdout)[0]["hits"]
    assert sorted(h["parent_id"] for h in hits) == ["geo", "long", "money"]
    assert next(h for h in hits if h["parent_id"] == "long")["text"] == "x y"
