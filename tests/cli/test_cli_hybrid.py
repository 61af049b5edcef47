"""``nlu index build --hybrid`` and ``nlu embed --search --mode dense|lexical|hybrid`` (``--fusion``,
``--rrf-k``, ``--alpha``): the BM25 files, the hits' rankers, add/delete in step, and the usage errors."""

from __future__ import annotations

import json

import pytest
from cli_checks import check_error, check_ok, jsonl, write_jsonl

from nlu_toolkit.search.fusion import ALPHA

pytest.importorskip("bm25s")

DOCS = [
    {"id": "a", "text": "the cat sat on the mat"},
    {"id": "b", "text": "stock markets fell sharply today"},
    {"id": "c", "text": "the river flooded the old town"},
    {"id": "d", "text": "a recipe for lemon cake"},
]


@pytest.fixture(scope="module")
def built(st_model, tmp_path_factory):
    """A hybrid index and a plain one of DOCS."""
    from typer.testing import CliRunner

    from nlu_toolkit.cli.app import app

    folder = tmp_path_factory.mktemp("hybrid-cli")
    corpus = write_jsonl(folder / "corpus.jsonl", DOCS)
    for name, extra in (("hybrid.idx", ["--hybrid"]), ("plain.idx", [])):
        args = ["index", "build", corpus, "--out", str(folder / name), "--model", st_model, *extra]
        check_ok(CliRunner().invoke(app, args))
    return folder


def test_build_hybrid_writes_the_bm25_part(built):
    manifest = json.loads((built / "hybrid.idx" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["lexical"]["library"] == "bm25s"
    assert sorted(n for n in manifest["files"] if n.startswith("bm25.")) == sorted(
        p.name for p in (built / "hybrid.idx").iterdir() if p.name.startswith("bm25.")
    )
    assert "lexical" not in json.loads((built / "plain.idx" / "manifest.json").read_text(encoding="utf-8"))


def test_search_modes_report_their_rankers(nlu, built):
    index = built / "hybrid.idx"
    result = nlu("embed", "--search", "lemon cake", "--index", index, "--mode", "lexical", "-f", "jsonl")
    check_ok(result)
    hits = jsonl(result.stdout)[0]["hits"]
    assert [(h["id"], h["rankers"]) for h in hits] == [("d", {"lexical": 1})]
    rrf = ["--mode", "hybrid", "--fusion", "rrf", "--rrf-k", "10", "-f", "json"]
    result = nlu("embed", "--search", "lemon cake", "--index", index, *rrf)
    check_ok(result)
    hits = json.loads(result.stdout)[0]["hits"]
    assert len(hits) == 4 and hits[[h["id"] for h in hits].index("d")]["rankers"]["lexical"] == 1
    for hit in hits:
        assert hit["score"] == pytest.approx(sum(1 / (10 + r) for r in hit["rankers"].values()))
    # The default fusion is the weighted one with the library's alpha: the same hits as asking for it.
    default = nlu("embed", "--search", "lemon cake", "--index", index, "--mode", "hybrid", "-f", "json")
    weighted = ["--mode", "hybrid", "--fusion", "weighted", "--alpha", str(ALPHA), "-f", "json"]
    check_ok(default)
    assert json.loads(default.stdout) == json.loads(
        nlu("embed", "--search", "lemon cake", "--index", index, *weighted).stdout
    )
    assert json.loads(default.stdout)[0]["hits"] != hits  # not the RRF scores
    table = nlu("embed", "--search", "lemon cake", "--index", index, "--mode", "hybrid", "-f", "table")
    check_ok(table)
    assert "found by" in table.stdout and "lexical 1" in table.stdout
    dense = nlu("embed", "--search", "lemon cake", "--index", index, "-f", "jsonl")
    assert "rankers" not in jsonl(dense.stdout)[0]["hits"][0]


def test_weighted_fusion_with_alpha_zero_is_the_lexical_order(nlu, built):
    args = ["--index", built / "hybrid.idx", "--mode", "hybrid", "--fusion", "weighted", "--alpha", "0", "-f", "jsonl"]
    hits = jsonl(nlu("embed", "--search", "river town", *args).stdout)[0]["hits"]
    assert hits[0]["id"] == "c" and hits[0]["score"] == pytest.approx(1.0)


def test_index_add_and_delete_keep_the_lexical_part_in_step(nlu, built, tmp_path):
    import shutil

    index = shutil.copytree(built / "hybrid.idx", tmp_path / "idx")
    more = write_jsonl(tmp_path / "more.jsonl", [{"id": "e", "text": "a quokka smiles"}])
    check_ok(nlu("index", "add", index, more))
    search = ("embed", "--search", "quokka lemon", "--index", index, "--mode", "lexical", "-f", "jsonl")
    assert sorted(h["id"] for h in jsonl(nlu(*search).stdout)[0]["hits"]) == ["d", "e"]
    check_ok(nlu("index", "delete", index, "d"))
    assert [h["id"] for h in jsonl(nlu(*search).stdout)[0]["hits"]] == ["e"]


def test_lexical_mode_on_an_index_without_its_lexical_part_names_the_rebuild(nlu, built):
    line = check_error(nlu("embed", "--search", "cake", "--index", built / "plain.idx", "--mode", "hybrid"))
    assert "--mode" in line and "--hybrid" in line and "nlu index build" in line


def test_bad_mode_settings_are_usage_errors(nlu, built):
    index = built / "hybrid.idx"
    check_error(nlu("embed", "--search", "cake", "--index", index, "--mode", "sparse"))
    check_error(nlu("embed", "--search", "cake", "--index", index, "--mode", "hybrid", "--alpha", "1.5"))
    check_error(nlu("embed", "--search", "cake", "--index", index, "--mode", "hybrid", "--rrf-k", "-1"))


def test_a_corpus_search_in_lexical_mode_needs_no_index(nlu, built, st_model):
    corpus = built / "corpus.jsonl"
    result = nlu("embed", "--search", "stock markets", "--corpus", corpus, "--model", st_model, "--mode", "lexical")
    check_ok(result)
    assert [h["id"] for h in jsonl(result.stdout)[0]["hits"]] == ["b"]
