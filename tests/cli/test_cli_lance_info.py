"""``nlu index info`` on a Lance table reports its full-text (hybrid) index and passage settings, as it does for
an index folder (``lexical``, ``passages``; absent when the index has none)."""

from __future__ import annotations

import json

import pytest
from cli_checks import check_ok
from lance_fixtures import LANCE_CORPUS

pytest.importorskip("lancedb")


def test_info_reports_the_full_text_index_and_the_passage_settings(nlu, st_model, tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in LANCE_CORPUS), encoding="utf-8")
    out = tmp_path / "hybrid.lance"
    build = ["index", "build", corpus, "--out", out, "--index-backend", "lance", "--model", st_model]
    check_ok(nlu(*build, "--hybrid", "--passages", "6", "--overlap", "2"))
    result = nlu("index", "info", out, "-f", "json")
    check_ok(result)
    info = json.loads(result.stdout)[0]
    assert info["lexical"]["library"] == "lancedb"
    assert info["passages"] == {"tokens": 6, "overlap": 2}
    table = nlu("index", "info", out)
    check_ok(table)
    assert "lexical" in table.stdout and "passages" in table.stdout


def test_info_of_a_dense_table_has_neither(nlu, lance_table):
    result = nlu("index", "info", lance_table, "-f", "json")
    check_ok(result)
    info = json.loads(result.stdout)[0]
    assert "lexical" not in info and "passages" not in info
    assert info["backend"] == "lance"
