"""``nlu index build|add|delete|info`` on a Lance table (DIR.lance), ``nlu embed --search --index DIR.lance --where``."""

from __future__ import annotations

import json
import shutil

import pytest
from cli_checks import check_error, check_ok, jsonl, write_jsonl
from lance_fixtures import LANCE_CORPUS

pytest.importorskip("lancedb")


@pytest.fixture
def copy(lance_table, tmp_path):
    target = tmp_path / "copy.lance"
    shutil.copytree(lance_table, target)
    return target


def test_build_makes_the_library_table(nlu, lance_table, st_model, tmp_path):
    corpus = write_jsonl(tmp_path / "corpus.jsonl", LANCE_CORPUS)
    out = tmp_path / "corpus.lance"
    result = nlu("index", "build", corpus, "--out", out, "--index-backend", "lance", "--model", st_model)
    check_ok(result)
    assert jsonl(result.stdout)[0]["backend"] == "lance"
    searches = [nlu("embed", "--search", "a city by a river", "--index", t, "-f", "jsonl") for t in (out, lance_table)]
    for search in searches:
        check_ok(search)
    got, want = (jsonl(search.stdout)[0]["hits"] for search in searches)
    assert [(h["id"], h["topic"]) for h in got] == [(h["id"], h["topic"]) for h in want]
    assert all(abs(g["score"] - w["score"]) < 1e-5 for g, w in zip(got, want, strict=True))


def test_search_a_lance_index_equals_the_folder_index(nlu, lance_table, st_model, tmp_path):
    corpus = write_jsonl(tmp_path / "corpus.jsonl", LANCE_CORPUS)
    check_ok(nlu("index", "build", corpus, "--out", tmp_path / "idx", "--model", st_model))
    lance = nlu("embed", "--search", "free delivery", "--index", lance_table, "-f", "jsonl")
    folder = nlu("embed", "--search", "free delivery", "--index", tmp_path / "idx", "-f", "jsonl")
    check_ok(lance)
    check_ok(folder)
    got, want = jsonl(lance.stdout)[0]["hits"], jsonl(folder.stdout)[0]["hits"]
    assert [h["id"] for h in got] == [h["id"] for h in want]
    assert all(abs(g["score"] - w["score"]) < 1e-5 for g, w in zip(got, want, strict=True))
    assert got[0]["topic"] == want[0]["topic"]


def test_where_filters_the_hits(nlu, lance_table):
    result = nlu("embed", "--search", "money back", "--index", lance_table, "--where", "topic = 'geo'", "-f", "jsonl")
    check_ok(result)
    hits = jsonl(result.stdout)[0]["hits"]
    assert [h["topic"] for h in hits] == ["geo", "geo"]


def test_where_is_a_usage_error_on_a_folder_index_and_a_bad_filter(nlu, lance_table, st_model, tmp_path):
    corpus = write_jsonl(tmp_path / "corpus.jsonl", LANCE_CORPUS)
    check_error(nlu("embed", "--search", "x", "--corpus", corpus, "--where", "topic = 'a'"), 2, contains="--where")
    check_error(nlu("embed", "--search", "x", "--index", lance_table, "--where", "nope = 1"), 2, contains="--where")
    check_error(nlu("embed", "x", "--where", "topic = 'a'"), 2, contains="search mode")


def test_add_delete_and_info(nlu, copy, tmp_path):
    more = write_jsonl(
        tmp_path / "more.jsonl",
        [{"id": "d1", "text": "the capital of italy is rome", "topic": "geo"}, {"id": "e", "text": "x", "topic": "y"}],
    )
    added = nlu("index", "add", copy, more)
    check_ok(added)
    assert "added 1, replaced 1" in added.stderr
    deleted = nlu("index", "delete", copy, "d2", "zz")
    check_ok(deleted)
    assert "deleted 1 (1 not found: zz)" in deleted.stderr
    info = nlu("index", "info", copy, "-f", "json")
    check_ok(info)
    record = json.loads(info.stdout)[0]
    assert record["count"] == 4 and record["backend"] == "lance" and record["model_sha256"]
    hits = jsonl(nlu("embed", "--search", "capitals", "--index", copy, "-f", "jsonl").stdout)[0]["hits"]
    assert {h["id"] for h in hits} == {"d1", "d3", "d4", "e"}
    assert next(h for h in hits if h["id"] == "d1")["text"] == "the capital of italy is rome"
    check_error(nlu("index", "delete", copy, "nothing-here"), 2, contains="none of the 1 ids")


def test_build_refuses_to_replace_without_overwrite_and_mismatched_names(nlu, lance_table, st_model, tmp_path):
    corpus = write_jsonl(tmp_path / "corpus.jsonl", LANCE_CORPUS)
    check_error(nlu("index", "build", corpus, "--out", lance_table, "--index-backend", "lance", "--model", st_model))
    check_error(nlu("index", "build", corpus, "--out", tmp_path / "x", "--index-backend", "lance"), contains=".lance")
    check_error(nlu("index", "build", corpus, "--out", tmp_path / "x.lance", "--index-backend", "usearch"))
    check_error(nlu("index", "build", corpus, "--out", tmp_path / "y.lance", "--precision", "int8"))
    assert not (tmp_path / "x").exists() and not (tmp_path / "y.lance").exists()


def test_overwrite_replaces_the_table(nlu, copy, st_model, tmp_path):
    corpus = write_jsonl(tmp_path / "corpus.jsonl", LANCE_CORPUS[:2])
    check_ok(nlu("index", "build", corpus, "--out", copy, "--model", st_model, "--overwrite"))
    info = json.loads(nlu("index", "info", copy, "-f", "json").stdout)[0]
    assert info["count"] == 2


def test_another_model_is_refused(nlu, lance_table, st_model_other):
    check_error(
        nlu("embed", "--search", "x", "--index", lance_table, "--model", st_model_other), 2, contains="built with"
    )


def test_a_damaged_table_is_reported_with_a_remedy(nlu, copy):
    for data in (copy / "data").iterdir():
        data.write_bytes(data.read_bytes()[:64])
    line = check_error(nlu("embed", "--search", "x", "--index", copy), 1, contains="damaged")
    assert "--overwrite" in line
    check_error(nlu("index", "info", copy), 1, contains="damaged")


def test_a_missing_table_is_an_input_error(nlu, tmp_path):
    check_error(nlu("embed", "--search", "x", "--index", tmp_path / "none.lance"), 2, contains="no such Lance index")


def test_a_build_that_fails_midway_leaves_no_folder(nlu, st_model, tmp_path):
    lines = [json.dumps({"id": i, "text": f"text {i}"}) for i in range(2500)] + ["{not json"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    check_error(nlu("index", "build", bad, "--out", tmp_path / "f.lance", "--model", st_model), 2, contains="bad.jsonl")
    assert not (tmp_path / "f.lance").exists()
