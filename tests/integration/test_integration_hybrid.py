"""Hybrid lexical + dense search on the tiny sentence-transformers model: an index folder's BM25 part (built,
listed with checksums in the manifest, verified, never unpickled, kept in step by add/delete), the modes and
their errors, the ``rankers`` of each hit, the library's ``search()``, a Lance table's full-text index (with
``where`` on both rankers) and ``/search`` on a real server.

The tiny model's vectors carry no meaning, so these tests check mechanics; which ranker finds what on real
text is tests/integration/test_hybrid_slow.py's (the embedded MiniLM).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from nlu_toolkit.errors import IndexCorrupted, UsageError
from nlu_toolkit.search.api import search
from nlu_toolkit.search.fusion import ALPHA
from nlu_toolkit.search.index import SemanticIndex, read_manifest
from nlu_toolkit.search.lexical import FILES

pytest.importorskip("bm25s")

DOCS = [
    {"id": "d1", "text": "the capital of france is paris", "topic": "geo"},
    {"id": "d2", "text": "john loved the movie", "topic": "film"},
    {"id": "d3", "text": "money in the bank", "topic": "money"},
    {"id": "d4", "text": "a river in london", "topic": "geo"},
    {"id": "d5", "text": "the zygomorphic orchid flowers in spring", "topic": "plants"},
]


def ids(result) -> list[str]:
    return [h.doc["id"] for h in result.hits]


@pytest.fixture(scope="module")
def saved(st_model, tmp_path_factory) -> Path:
    """A hybrid index of DOCS, saved once (tests copy it before changing it)."""
    folder = tmp_path_factory.mktemp("hybrid") / "corpus.idx"
    with SemanticIndex.build(DOCS, st_model, hybrid=True) as index:
        index.save(folder)
    return folder


@pytest.fixture
def copy(saved, tmp_path) -> Path:
    return Path(shutil.copytree(saved, tmp_path / "copy.idx"))


def test_build_hybrid_lists_the_bm25_files_with_checksums_in_the_manifest(saved):
    manifest = read_manifest(saved)
    assert manifest["lexical"] == {"library": "bm25s", "method": "lucene", "stopwords": "en"}
    assert set(FILES) <= set(manifest["files"])
    for name in FILES:
        from nlu_toolkit.io.checksums import sha256_file

        assert manifest["files"][name] == sha256_file(saved / name)
    # The arrays are plain .npy files (no pickled objects).
    for name in FILES:
        if name.endswith(".npy"):
            assert np.load(saved / name, allow_pickle=False).dtype != object


def test_modes_and_rankers_on_a_loaded_index(saved):
    with SemanticIndex.load(saved) as index:
        assert index.hybrid
        lexical = index.search("zygomorphic orchid", top_k=3, mode="lexical")[0]
        assert ids(lexical) == ["d5"]  # only a document sharing a word is found
        assert lexical.hits[0].doc["rankers"] == {"lexical": 1}
        dense = index.search("zygomorphic orchid", top_k=5)[0]
        dense_rank = {h.doc["id"]: h.rank for h in dense.hits}
        cosine = {h.doc["id"]: h.score for h in dense.hits}
        bm25 = {h.doc["id"]: h.score for h in lexical.hits}
        for fusion in ("rrf", "weighted"):
            hybrid = index.search("zygomorphic orchid", top_k=5, mode="hybrid", fusion=fusion)[0]
            assert sorted(ids(hybrid)) == ["d1", "d2", "d3", "d4", "d5"]
            by_id = {h.doc["id"]: h for h in hybrid.hits}
            assert by_id["d5"].doc["rankers"]["lexical"] == 1 and "dense" in by_id["d5"].doc["rankers"]
            assert [h.rank for h in hybrid.hits] == [1, 2, 3, 4, 5]
            for hit in hybrid.hits:
                ranks = hit.doc["rankers"]
                assert ranks["dense"] == dense_rank[hit.doc["id"]]
                if fusion == "rrf":  # each fused score is the RRF of the ranks the hit carries
                    assert hit.score == pytest.approx(sum(1 / (60 + r) for r in ranks.values()))
        # The default, weighted with alpha ALPHA: min-max normalised cosine and BM25 (0 for no shared word).
        low, high = min(cosine.values()), max(cosine.values())
        for hit in hybrid.hits:
            key = hit.doc["id"]
            want = ALPHA * (cosine[key] - low) / (high - low) + (1 - ALPHA) * (1.0 if key in bm25 else 0.0)
            assert hit.score == pytest.approx(want, abs=1e-6)
        assert index.search("zygomorphic orchid", top_k=5, mode="hybrid")[0].hits == hybrid.hits
        assert "rankers" not in dense.hits[0].doc  # a dense search's hits are as they always were
        assert index.search("the of in", mode="lexical")[0].hits == []  # stop words only: nothing


def test_a_damaged_bm25_file_is_reported(copy):
    with open(copy / "bm25.indptr.npy", "r+b") as f:
        f.seek(-4, 2)
        f.write(b"\xff\xff\xff\x7f")
    with pytest.raises(IndexCorrupted, match=r"bm25\.indptr\.npy does not match its checksum"):
        SemanticIndex.load(copy)


def test_a_pickled_bm25_array_is_never_unpickled(copy):
    """Even unverified (verify=False), an array file holding a pickle is refused, not loaded."""
    np.save(copy / "bm25.data.npy", np.array([{"x": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(IndexCorrupted, match="cannot read its BM25 files"):
        SemanticIndex.load(copy, verify=False)


def test_a_manifest_naming_the_lexical_part_without_its_files_is_damaged(copy):
    from nlu_toolkit.search.manifest import dump_manifest

    manifest = json.loads((copy / "manifest.json").read_text())
    del manifest["files"]["bm25.vocab.json"]
    manifest.pop("manifest_sha256")
    (copy / "manifest.json").write_text(dump_manifest(manifest))
    with pytest.raises(IndexCorrupted, match=r"no checksum for bm25\.vocab\.json"):
        read_manifest(copy)


def test_add_and_delete_keep_the_lexical_part_in_step(copy):
    SemanticIndex.update(copy, [{"id": "d6", "text": "a quokka smiles"}, {"id": "d2", "text": "quokka films"}])
    with SemanticIndex.load(copy) as index:
        assert ids(index.search("quokka", top_k=5, mode="lexical")[0]) in (["d6", "d2"], ["d2", "d6"])
        assert index.search("movie", mode="lexical")[0].hits == []  # d2's old text is gone
    SemanticIndex.delete_from(copy, ["d6", "d5"])
    with SemanticIndex.load(copy) as index:
        assert ids(index.search("quokka zygomorphic", top_k=5, mode="lexical")[0]) == ["d2"]
        # In memory too: an add is searchable before any save.
        index.add([{"id": "d7", "text": "zygomorphic again"}])
        assert ids(index.search("zygomorphic", mode="lexical")[0]) == ["d7"]
        index.delete(["d7", "d2"])
        assert index.search("zygomorphic quokka", mode="lexical")[0].hits == []


def test_deleting_every_document_leaves_an_empty_lexical_part(copy):
    SemanticIndex.delete_from(copy, [d["id"] for d in DOCS])
    with SemanticIndex.load(copy) as index:
        assert len(index) == 0 and index.hybrid
        assert index.search("paris", mode="hybrid")[0].hits == []


def test_lexical_and_hybrid_without_the_lexical_part_are_usage_errors(st_model, tmp_path):
    plain = tmp_path / "plain.idx"
    with SemanticIndex.build(DOCS, st_model) as index:
        index.save(plain)
        with pytest.raises(UsageError, match="lexical part") as caught:
            index.search("paris", mode="hybrid")
        assert "--hybrid" in caught.value.hint
    # The library's search() refuses before any model loads (a broken model spec is never reached).
    with pytest.raises(UsageError, match=r"lexical part, and .*plain.idx was built without it"):
        search("paris", index=plain, mode="lexical", model="no/such-model")
    with pytest.raises(UsageError, match="mode"):
        search("paris", index=plain, mode="sparse")


def test_search_on_a_corpus_builds_the_lexical_part_for_the_call(st_model):
    results = search(["orchid", "bank money"], corpus=DOCS, model=st_model, mode="lexical", top_k=2)
    assert [ids(r) for r in results] == [["d5"], ["d3"]]
    weighted = search("orchid", corpus=DOCS, model=st_model, mode="hybrid", fusion="weighted", alpha=0.0, top_k=1)
    assert ids(weighted[0]) == ["d5"] and weighted[0].hits[0].score == pytest.approx(1.0)


def test_lance_full_text_index(st_model, tmp_path):
    pytest.importorskip("lancedb")
    from nlu_toolkit.search.lance_lexical import has_fts
    from nlu_toolkit.search.lance_search import LanceIndex

    uri = str(tmp_path / "corpus.lance")
    with LanceIndex.create(uri, DOCS, st_model, hybrid=True) as index:
        assert has_fts(index.table)
        hit = index.search("zygomorphic", mode="lexical")[0].hits
        assert [(h.doc["id"], h.doc["rankers"], h.rank) for h in hit] == [("d5", {"lexical": 1}, 1)]
        # where applies to both rankers: no hit outside topic geo, whoever found it.
        fused = index.search("paris river orchid", top_k=5, mode="hybrid", where="topic = 'geo'")[0]
        assert sorted(ids(fused)) == ["d1", "d4"]
        assert all(h.doc["rankers"].get("lexical") for h in fused.hits)
        index.add([{"id": "d6", "text": "a quokka smiles", "topic": "geo"}])
        index.delete(["d5"])
    with LanceIndex.open(uri) as index:  # added rows are found, deleted ones never
        assert ids(index.search("quokka zygomorphic", mode="lexical")[0]) == ["d6"]
        assert index.search("quokka", mode="hybrid", top_k=1)[0].hits[0].doc["rankers"]["lexical"] == 1
    plain = str(tmp_path / "plain.lance")
    with LanceIndex.create(plain, DOCS, st_model) as index, pytest.raises(UsageError, match="--index-backend lance"):
        index.search("paris", mode="hybrid")


def test_serve_search_takes_the_mode(saved, st_model, tmp_path):
    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    from test_serve import assert_error, running

    from nlu_toolkit.serve import ServeConfig

    plain = tmp_path / "plain.idx"
    with SemanticIndex.build(DOCS, st_model) as index:
        index.save(plain)
    with running(ServeConfig(tasks=("search",), index=str(saved), max_wait_ms=2)) as client:
        body = client.post("/search", json={"query": "zygomorphic orchid", "mode": "lexical"}).json()
        assert [(h["id"], h["rankers"]) for h in body["hits"]] == [("d5", {"lexical": 1})]
        rrf = {"queries": ["orchid", "bank"], "mode": "hybrid", "fusion": "rrf", "top_k": 2}
        body = client.post("/search", json=rrf).json()
        assert [r["hits"][0]["id"] for r in body] == ["d5", "d3"]
        assert all("dense" in r["hits"][0]["rankers"] for r in body)
        # The default fusion (weighted) is the library's: same hits, same scores.
        body = client.post("/search", json={"queries": ["orchid", "bank"], "mode": "hybrid", "top_k": 2}).json()
        with SemanticIndex.load(saved) as index:
            want = index.search(["orchid", "bank"], top_k=2, mode="hybrid")
        assert [[(h["id"], h["score"]) for h in r["hits"]] for r in body] == [
            [(h.doc["id"], pytest.approx(h.score)) for h in r.hits] for r in want
        ]
        assert body != client.post("/search", json=rrf).json()
        weighted = client.post(
            "/search", json={"query": "orchid", "mode": "hybrid", "fusion": "weighted", "alpha": 0, "top_k": 1}
        ).json()
        assert weighted["hits"][0]["id"] == "d5" and weighted["hits"][0]["score"] == pytest.approx(1.0)
        assert "rankers" not in client.post("/search", json={"query": "orchid"}).json()["hits"][0]
        assert_error(client.post("/search", json={"query": "x", "mode": "sparse"}), 422, "mode")
        assert_error(client.post("/search", json={"query": "x", "alpha": 2}), 422, "alpha")
    with running(ServeConfig(tasks=("search",), index=str(plain), max_wait_ms=2)) as client:
        assert_error(client.post("/search", json={"query": "x", "mode": "hybrid"}), 422, "mode", "--hybrid")


def test_app_search_takes_the_mode(saved, st_model):
    pytest.importorskip("gradio")
    from nlu_toolkit.app.config import AppConfig
    from nlu_toolkit.app.services import AppBackend

    backend = AppBackend(AppConfig(index=str(saved), device="cpu"))
    assert [r[2] for r in backend.search("zygomorphic orchid", 5, mode="lexical")] == ["d5"]
    hybrid = backend.search("zygomorphic orchid", 5, mode="hybrid")
    assert hybrid[0][2] == "d5"
    assert "lexical 1" in hybrid[0][4]  # the "found by" column names the rankers and their ranks
    assert all(row[4] for row in hybrid)  # every fused hit was found by at least one ranker
    pasted = AppBackend(AppConfig(embed_model=st_model, device="cpu"))
    corpus = "\n".join(d["text"] for d in DOCS)  # a pasted corpus gets its lexical part on first use
    assert [r[3] for r in pasted.search("bank", 3, corpus, mode="lexical")] == ["money in the bank"]
