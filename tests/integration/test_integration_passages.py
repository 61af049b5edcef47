"""Passage indexes (``passages=``/``overlap=``) on the tiny ``st_model``, folder and Lance kinds.

Each row is a passage with its parent's id, passthrough columns and exact character offsets; the settings
live in the manifest (the Lance model record), so a later add splits new documents the same way; a parent
added again replaces all its passages and a parent's id deletes them all; ``per_document`` keeps the best
passage of each parent and still gives ``top_k`` distinct parents.
"""

from __future__ import annotations

import json

import pytest

from nlu_toolkit.search.api import search
from nlu_toolkit.search.index import SemanticIndex

# Single letters are single tokens of the tiny model's vocabulary: token counts are easy to follow.
LONG = "a b c d. e f g. h i j k l m n o p q. r s t.\n\nu v w x y z."
DOCS = [
    {"id": "long", "text": LONG, "topic": "letters"},
    {"id": 2, "text": "bank money", "topic": "money"},
    {"id": "short", "text": "river  bank\nlondon", "topic": "geo"},
]
SETTINGS = {"passages": 6, "overlap": 2}


def _rows(index) -> list[dict]:
    return sorted(index.documents(), key=lambda d: (str(d["parent_id"]), d["start"]))


def _check_rows(rows: list[dict], parents: list[dict]) -> None:
    by_id = {str(p["id"]): p for p in parents}
    assert {str(r["parent_id"]) for r in rows} == set(by_id)
    for row in rows:
        parent = by_id[str(row["parent_id"])]
        assert parent["text"][row["start"] : row["end"]] == row["text"]
        assert row["id"].startswith(f"{row['parent_id']}#")
        assert row.get("topic") == parent.get("topic")


def test_build_save_load_add_upsert_delete_a_folder_passage_index(st_model, tmp_path):
    folder = tmp_path / "idx"
    with SemanticIndex.build(DOCS, st_model, **SETTINGS) as index:
        rows = _rows(index)
        _check_rows(rows, DOCS)
        # sentence ends where a sentence fits in 6 tokens; "h ... q." (10 tokens) cut with 2 tokens repeated
        assert [r["text"] for r in rows if r["parent_id"] == "long"] == [
            "a b c d.",
            "e f g.",
            "h i j k l m",
            "l m n o p q",
            "p q.",
            "r s t.",
            "u v w x y z",
            "y z.",
        ]
        assert [r["id"] for r in rows if r["parent_id"] == 2] == ["2#0"]
        index.save(folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["passages"] == {"tokens": 6, "overlap": 2}
    assert manifest["count"] == len(rows)

    later = [{"id": "new", "text": LONG, "topic": "letters"}, "x y"]
    result = SemanticIndex.update(folder, later)
    assert (result.added, result.replaced) == (2, 0)
    with SemanticIndex.load(folder) as index:
        assert index.passages.tokens == 6
        new = [r for r in _rows(index) if r["parent_id"] == "new"]
        old = [r for r in rows if r["parent_id"] == "long"]
        # added later, split exactly as the build split the same text
        assert [(r["text"], r["start"], r["end"]) for r in new] == [(r["text"], r["start"], r["end"]) for r in old]
        plain = [r for r in _rows(index) if r["text"] == "x y"]
        # numbered from past the integer parent id 2 (not from the passage count), by position in the input
        assert len(plain) == 1 and plain[0]["parent_id"] == 4 and plain[0]["id"] == "4#0"
        assert index.next_id == 5

    replaced = SemanticIndex.update(folder, [{"id": "long", "text": "just one", "topic": "short now"}])
    assert (replaced.added, replaced.replaced) == (0, 1)
    with SemanticIndex.load(folder) as index:
        mine = [r for r in _rows(index) if r["parent_id"] == "long"]
        assert [(r["id"], r["text"], r["topic"]) for r in mine] == [("long#0", "just one", "short now")]

    deleted = SemanticIndex.delete_from(folder, ["new", "nope"])
    assert (deleted.deleted, deleted.not_found) == (1, ["nope"])
    with SemanticIndex.load(folder) as index:
        assert not [r for r in _rows(index) if r["parent_id"] == "new"]
        assert index.delete(["short#0"]).deleted == 1  # one passage, by its own id
        assert {r["parent_id"] for r in _rows(index)} == {"long", 2, 4}


def test_repeated_parent_in_one_call_keeps_only_the_last_versions_passages(st_model, tmp_path):
    twice = [{"id": "p", "text": LONG}, {"id": "p", "text": "x y"}]
    with SemanticIndex.build(twice, st_model, **SETTINGS) as index:
        assert [(r["id"], r["text"]) for r in index.documents()] == [("p#0", "x y")]
    pytest.importorskip("lancedb")
    from nlu_toolkit.search.lance_search import LanceIndex

    with LanceIndex.create(str(tmp_path / "t.lance"), twice, st_model, **SETTINGS) as lance:
        assert [(r["id"], r["text"]) for r in lance.documents()] == [("p#0", "x y")]


def test_per_document_keeps_the_best_passage_and_gives_top_k_distinct_parents(st_model, tmp_path):
    # "many" has 30 passages that all equal the query, so the first 20 candidates hold one parent only
    many = {"id": "many", "text": " ".join(["q r s."] * 30)}
    corpus = [many, {"id": "one", "text": "q r s t"}, {"id": "two", "text": "z y x w v"}]
    with SemanticIndex.build(corpus, st_model, passages=4, overlap=1) as index:
        assert sum(d["parent_id"] == "many" for d in index.documents()) == 30
        everything = index.search("q r s.", top_k=len(index))[0].hits
        best = {}
        for hit in everything:
            best.setdefault(hit.doc["parent_id"], hit)
        plain = index.search("q r s.", top_k=3)[0].hits
        assert {h.doc["parent_id"] for h in plain} == {"many"}
        collapsed = index.search("q r s.", top_k=3, per_document=True)[0].hits
        assert [h.doc["parent_id"] for h in collapsed] == list(best)[:3] and len(collapsed) == 3
        assert [h.rank for h in collapsed] == [1, 2, 3]
        for hit in collapsed:
            assert hit.score == pytest.approx(best[hit.doc["parent_id"]].score)
        assert len(index.search("q r s.", top_k=10, per_document=True)[0].hits) == 3  # all the parents there are
        index.save(tmp_path / "idx")
    got = search(["q r s.", "z y"], index=tmp_path / "idx", top_k=2, per_document=True)
    assert [len({h.doc["parent_id"] for h in r.hits}) for r in got] == [2, 2]


def test_per_document_encodes_the_queries_once_however_often_it_fetches_more(st_model):
    # as above: the first 20 candidates hold one parent only, so a second, larger fetch is needed
    corpus = [{"id": "many", "text": " ".join(["q r s."] * 30)}, {"id": "one", "text": "q r s t"}]
    with SemanticIndex.build(corpus, st_model, passages=4, overlap=1) as index:
        calls = []
        encode = index.embedder.encode
        index.embedder.encode = lambda texts, *a, **kw: calls.append(list(texts)) or encode(texts, *a, **kw)
        hits = index.search("q r s.", top_k=2, per_document=True)[0].hits
        assert [h.doc["parent_id"] for h in hits] in (["many", "one"], ["one", "many"])
        assert calls == [["q r s."]]


def test_per_document_on_an_index_without_passages_changes_nothing(st_model):
    with SemanticIndex.build([d["text"] for d in DOCS], st_model) as index:
        assert index.passages is None
        a = [h.to_dict() for h in index.search("bank", top_k=3)[0].hits]
        b = [h.to_dict() for h in index.search("bank", top_k=3, per_document=True)[0].hits]
        assert a == b


def test_bad_settings_fail_before_the_model_loads():
    from nlu_toolkit.errors import UsageError

    with pytest.raises(UsageError, match="smaller than passages"):
        SemanticIndex.build(DOCS, "no-such-model-folder", passages=5, overlap=5)


def test_passages_longer_than_the_model_embeds_are_refused(st_model):
    from nlu_toolkit.errors import UsageError

    with pytest.raises(UsageError, match="longer than the model embeds"):
        SemanticIndex.build(DOCS, st_model, passages=1000)


def test_lance_passage_index(st_model, tmp_path):
    pytest.importorskip("lancedb")
    from nlu_toolkit.search.lance_search import LanceIndex

    uri = str(tmp_path / "p.lance")
    LanceIndex.create(uri, DOCS, st_model, **SETTINGS).close()
    with SemanticIndex.build(DOCS, st_model, **SETTINGS) as folder_index:
        want = [(str(r["parent_id"]), r["id"], r["text"], r["start"], r["end"]) for r in _rows(folder_index)]
    index = LanceIndex.open(uri)
    assert index.passages.tokens == 6 and index.manifest["passages"] == {"tokens": 6, "overlap": 2}
    rows = _rows(index)
    assert [(r["parent_id"], r["id"], r["text"], r["start"], r["end"]) for r in rows] == want
    _check_rows(rows, DOCS)

    result = index.add([{"id": "long", "text": "a b", "topic": "t"}, {"text": "c d", "topic": "t"}])
    assert (result.added, result.replaced) == (1, 1)
    again = LanceIndex.open(uri)
    assert [r["id"] for r in _rows(again) if r["parent_id"] == "long"] == ["long#0"]
    assert [r["id"] for r in _rows(again) if r["text"] == "c d"] == ["4#0"]  # 3 (past id 2) + its position
    hits = again.search("bank", top_k=3, per_document=True)[0].hits
    assert len({h.doc["parent_id"] for h in hits}) == len(hits) == 3
    filtered = again.search("bank", top_k=3, per_document=True, where="topic = 'geo'")[0].hits
    assert [h.doc["parent_id"] for h in filtered] == ["short"]
    deleted = again.delete(["long", "short"])
    assert deleted.deleted == 2 and {r["parent_id"] for r in _rows(again)} == {"2", "4"}


def test_damaged_passage_settings_in_a_manifest_are_refused(st_model, tmp_path):
    from nlu_toolkit.errors import IndexCorrupted
    from nlu_toolkit.search.manifest import dump_manifest, read_manifest

    folder = tmp_path / "idx"
    with SemanticIndex.build(DOCS[1:], st_model, **SETTINGS) as index:
        index.save(folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest.pop("manifest_sha256")
    manifest["passages"] = {"tokens": 6, "overlap": 6}
    (folder / "manifest.json").write_text(dump_manifest(manifest))  # a valid checksum over bad settings
    with pytest.raises(IndexCorrupted, match="'passages'"):
        read_manifest(folder)
