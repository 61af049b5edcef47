"""``nlu index add`` replaces documents whose id is in the index; ``nlu index delete`` removes ids."""

from __future__ import annotations

import json
import shutil

import pytest
from cli_checks import check_error, check_ok, docs_of, jsonl, write_jsonl

DOCS = [
    {"id": "a", "text": "the cat sat on the mat"},
    {"id": "b", "text": "stock markets fell sharply today"},
    {"id": "c", "text": "the river flooded the old town"},
    {"id": 4, "text": "a recipe for lemon cake"},
]


@pytest.fixture(scope="module")
def built(st_model, tmp_path_factory):
    from typer.testing import CliRunner

    from nlu_toolkit.cli.app import app

    folder = tmp_path_factory.mktemp("upsert")
    corpus = write_jsonl(folder / "corpus.jsonl", DOCS)
    out = folder / "idx"
    check_ok(CliRunner().invoke(app, ["index", "build", corpus, "--out", str(out), "--model", st_model]))
    return out


@pytest.fixture
def index(built, tmp_path):
    shutil.copytree(built, tmp_path / "idx")
    return tmp_path / "idx"


def test_index_add_twice_with_the_same_file_keeps_one_per_id(nlu, index, tmp_path):
    corpus = write_jsonl(tmp_path / "corpus.jsonl", DOCS)
    result = nlu("index", "add", index, corpus)
    check_ok(result)
    assert result.stderr.strip() == "nlu: added 0, replaced 4"
    assert jsonl(result.stdout)[0]["count"] == 4
    check_ok(nlu("index", "add", index, corpus))
    assert [d["id"] for d in docs_of(index)] == ["a", "b", "c", 4]
    assert json.loads((index / "manifest.json").read_text(encoding="utf-8"))["count"] == 4


def test_index_add_reports_added_and_replaced_and_search_finds_the_new_text(nlu, index, tmp_path):
    more = write_jsonl(
        tmp_path / "more.jsonl",
        [{"id": "b", "text": "quantum computers and qubits", "note": "edited"}, {"id": "z", "text": "tomatoes"}],
    )
    result = nlu("index", "add", index, more)
    check_ok(result)
    assert result.stderr.strip() == "nlu: added 1, replaced 1"
    found = nlu("embed", "--index", index, "-k", "5", "--search", "quantum computers and qubits")
    check_ok(found)
    hits = jsonl(found.stdout)[0]["hits"]
    assert hits[0]["id"] == "b" and hits[0]["text"] == "quantum computers and qubits" and hits[0]["note"] == "edited"
    assert "stock markets fell sharply today" not in [h["text"] for h in hits]
    assert nlu("index", "add", index, more, "--quiet").stderr == ""


def test_index_delete_removes_ids_and_says_so(nlu, index):
    result = nlu("index", "delete", index, "a", "4", "nope")  # 4 is stored as a number: ids match by text
    check_ok(result)
    assert result.stderr.strip() == "nlu: deleted 2 (1 not found: nope)"
    assert jsonl(result.stdout)[0]["count"] == 2
    assert [d["id"] for d in docs_of(index)] == ["b", "c"]
    found = nlu("embed", "--index", index, "-k", "5", "--search", "the cat sat on the mat")
    check_ok(found)
    assert {h["id"] for h in jsonl(found.stdout)[0]["hits"]} == {"b", "c"}
    assert sorted(p.name for p in index.parent.iterdir()) == ["idx"]  # saved by a swap: no temp folder left


def test_index_delete_reads_ids_from_a_file_or_stdin(nlu, index, tmp_path):
    ids = tmp_path / "ids.txt"
    ids.write_text("a\n\n  b  \n", encoding="utf-8")
    check_ok(nlu("index", "delete", index, "--input", ids))
    assert [d["id"] for d in docs_of(index)] == ["c", 4]
    result = nlu("index", "delete", index, "-i", "-", input="c\n")
    check_ok(result)
    assert [d["id"] for d in docs_of(index)] == [4]


def test_index_delete_of_unknown_ids_fails_unless_missing_ok(nlu, index):
    before = (index / "manifest.json").read_bytes()
    check_error(nlu("index", "delete", index, "x", "y"), 2, contains="none of the 2 ids")
    assert (index / "manifest.json").read_bytes() == before  # unchanged
    result = nlu("index", "delete", index, "x", "--missing-ok")
    check_ok(result)
    assert result.stderr.strip() == "nlu: deleted 0 (1 not found: x)"
    assert (index / "manifest.json").read_bytes() == before


def test_index_delete_without_ids_or_index_is_an_error(nlu, index, tmp_path):
    check_error(nlu("index", "delete", index), 2, contains="no ids given")
    check_error(nlu("index", "delete", tmp_path / "nope", "a"), 2)
