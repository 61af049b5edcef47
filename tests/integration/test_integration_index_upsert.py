"""Ids are unique in a `SemanticIndex`: adding an id that is there replaces it, `delete` removes ids,
on every kind and precision, in memory and saved."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from nlu_toolkit.errors import InputError
from nlu_toolkit.search.ids import AddResult, DeleteResult, IdMap
from nlu_toolkit.search.index import SemanticIndex, read_manifest

DOCS = [
    {"id": "a", "text": "the cat sat on the mat", "topic": "pets"},
    {"id": "b", "text": "stock markets fell sharply today", "topic": "money"},
    {"id": "c", "text": "the river flooded the old town", "topic": "news"},
    {"id": "d", "text": "a recipe for lemon cake", "topic": "food"},
    {"id": "e", "text": "football results from the weekend", "topic": "sport"},
    {"id": "f", "text": "how to reset a forgotten password", "topic": "help"},
]
KINDS = [("exact", "float32"), ("exact", "int8"), ("exact", "ubinary"), ("usearch", "float32")]


def build(st_model, kind="exact", precision="float32", docs=DOCS) -> SemanticIndex:
    if kind == "usearch":
        pytest.importorskip("usearch")
    return SemanticIndex.build(docs, st_model, kind=kind, precision=precision)


def top1(index: SemanticIndex, texts: list[str]) -> list[object]:
    return [r.hits[0].doc["id"] for r in index.search(texts, top_k=1)]


def all_ids(index: SemanticIndex) -> list[object]:
    hits = index.search(["anything at all"], top_k=len(index) + 5)[0].hits
    return sorted(h.doc["id"] for h in hits)


def check_consistent(index: SemanticIndex, fresh: SemanticIndex) -> None:
    """``index`` holds what ``fresh`` (built from the final documents) holds: same rows, vectors, codes, docs."""
    assert list(index.documents()) == list(fresh.documents())
    np.testing.assert_allclose(index.embeddings, fresh.embeddings, atol=1e-6)
    if fresh.codes is not None and fresh.precision == "ubinary":
        np.testing.assert_array_equal(index.codes, fresh.codes)
    assert index.codes is None or len(index.codes) == len(index)
    if index.kind == "usearch":
        assert len(index._ann) == len(index)
        keys = np.arange(len(index), dtype=np.uint64)
        np.testing.assert_allclose(index._ann._index.get(keys), index.embeddings, atol=1e-6)
    assert index.fingerprint.hexdigest() == fresh.fingerprint.hexdigest()


@pytest.mark.parametrize(("kind", "precision"), KINDS)
def test_adding_the_same_documents_twice_keeps_one_per_id(st_model, kind, precision, tmp_path):
    index = build(st_model, kind, precision)
    result = index.add(DOCS)
    assert result == AddResult(added=0, replaced=6, repeated=0, count=6)
    assert len(index) == 6
    assert all_ids(index) == ["a", "b", "c", "d", "e", "f"]
    check_consistent(index, build(st_model, kind, precision))
    index.save(tmp_path / "idx")
    assert read_manifest(tmp_path / "idx")["count"] == 6
    assert SemanticIndex.update(tmp_path / "idx", DOCS[:2]) == AddResult(0, 2, 0, 6)
    with SemanticIndex.load(tmp_path / "idx") as loaded:
        assert len(loaded) == 6 and all_ids(loaded) == ["a", "b", "c", "d", "e", "f"]


@pytest.mark.parametrize(("kind", "precision"), KINDS)
def test_a_replaced_document_comes_back_with_its_new_text(st_model, kind, precision, tmp_path):
    index = build(st_model, kind, precision)
    new = {"id": "c", "text": "quantum computers and qubits", "source": "edited"}
    result = index.add([new, {"id": "g", "text": "tips for growing tomatoes"}])
    assert (result.added, result.replaced, result.count) == (1, 1, 7)
    found = index.search("quantum computers and qubits", top_k=1)[0].hits[0]
    assert found.doc == new  # the old text and its "topic" field are gone
    assert all(h.doc["text"] != DOCS[2]["text"] for h in index.search(DOCS[2]["text"], top_k=7)[0].hits)
    final = [*DOCS[:2], new, *DOCS[3:], {"id": "g", "text": "tips for growing tomatoes"}]
    check_consistent(index, build(st_model, kind, precision, final))
    index.save(tmp_path / "idx")
    with SemanticIndex.load(tmp_path / "idx") as loaded:
        assert loaded.search("quantum computers and qubits", top_k=1)[0].hits[0].doc == new
        check_consistent(loaded, build(st_model, kind, precision, final))


@pytest.mark.parametrize(("kind", "precision"), KINDS)
def test_deleted_ids_never_come_back(st_model, kind, precision, tmp_path):
    index = build(st_model, kind, precision)
    result = index.delete(["b", "e", "zz"])
    assert result == DeleteResult(deleted=2, not_found=["zz"], count=4)
    assert all_ids(index) == ["a", "c", "d", "f"]
    assert top1(index, [DOCS[1]["text"], DOCS[4]["text"]])[0] not in ("b", "e")
    assert top1(index, [d["text"] for d in DOCS if d["id"] not in "be"]) == ["a", "c", "d", "f"]
    check_consistent(index, build(st_model, kind, precision, [d for d in DOCS if d["id"] not in "be"]))
    # Grown again after the deletion: rows, codes and ANN keys still line up.
    index.add([{"id": "b", "text": "stock markets fell sharply today"}])
    assert top1(index, ["stock markets fell sharply today"]) == ["b"]
    index.save(tmp_path / "idx")
    result = SemanticIndex.delete_from(tmp_path / "idx", ["a", "f"])
    assert (result.deleted, result.count) == (2, 3)
    with SemanticIndex.load(tmp_path / "idx") as loaded:
        assert all_ids(loaded) == ["b", "c", "d"]


def test_the_last_of_a_repeated_id_wins(st_model):
    index = build(st_model)
    result = index.add([{"id": "x", "text": "first version"}, {"id": "x", "text": "second version"}])
    assert result == AddResult(added=1, replaced=0, repeated=1, count=7)
    assert [d["text"] for d in index.documents() if d["id"] == "x"] == ["second version"]
    result = index.add([{"id": "a", "text": "one"}, {"id": "a", "text": "two"}])
    assert result == AddResult(added=0, replaced=1, repeated=1, count=7)
    assert next(iter(index.documents()))["text"] == "two"


def test_ids_match_by_text_whatever_their_type(st_model):
    index = SemanticIndex.build(["good film", "bad film", "a river"], st_model)  # ids 0, 1, 2
    assert index.add([{"id": "1", "text": "a terrible film"}]) == AddResult(0, 1, 0, 3)
    assert [d["id"] for d in index.documents()] == [0, "1", 2]  # the id as given last
    assert index.delete(["0", 2]) == DeleteResult(deleted=2, not_found=[], count=1)
    assert index.delete(1).deleted == 1 and len(index) == 0


def test_texts_without_ids_never_replace_a_document(st_model):
    index = SemanticIndex.build(["zero", "one", "two", "three"], st_model)
    index.delete([1])
    result = index.add(["four"])  # numbered past the largest id, not from the count (3, taken)
    assert result.added == 1 and result.replaced == 0
    assert [d["id"] for d in index.documents()] == [0, 2, 3, 4]
    strings = SemanticIndex.build([{"id": "7", "text": "seven"}], st_model)
    strings.add(["eight"])
    assert [d["id"] for d in strings.documents()] == ["7", 8]


def test_delete_needs_ids(st_model):
    with pytest.raises(InputError):
        build(st_model).delete([])


def test_an_index_with_duplicate_ids_from_before_is_healed(st_model, tmp_path):
    """Indexes saved before ids were unique may hold an id twice: add or delete leaves none of its copies."""
    index = build(st_model)
    index.save(tmp_path / "idx")
    folder = tmp_path / "twice"
    shutil.copytree(tmp_path / "idx", folder)
    # What `nlu index add` twice used to make: the same documents appended again.
    legacy = SemanticIndex.load(folder)
    legacy._id_map = IdMap()  # every id looks new: appended, as before
    legacy.add(DOCS)
    legacy._id_map = None
    assert len(legacy) == 12
    assert legacy.add([{"id": "a", "text": "the cat sat on the mat", "topic": "pets"}]).replaced == 1
    assert len(legacy) == 11 and [d["id"] for d in legacy.documents()].count("a") == 1
    assert legacy.delete(["b"]).deleted == 1
    assert len(legacy) == 9 and "b" not in [d["id"] for d in legacy.documents()]
    assert sorted(d["id"] for d in legacy.documents()) == ["a", "c", "c", "d", "d", "e", "e", "f", "f"]
    assert "b" not in [h.doc["id"] for h in legacy.search(DOCS[1]["text"], top_k=9)[0].hits]


@pytest.mark.parametrize(("kind", "precision"), KINDS)
def test_an_emptied_index_saves_loads_and_grows(st_model, kind, precision, tmp_path):
    index = build(st_model, kind, precision)
    assert index.delete([d["id"] for d in DOCS]).count == 0
    assert index.search("cat")[0].hits == []
    index.save(tmp_path / "idx")
    with SemanticIndex.load(tmp_path / "idx") as loaded:
        assert len(loaded) == 0
        assert loaded.add(["a bird", "a fish"]).added == 2
        assert top1(loaded, ["a bird", "a fish"]) == [0, 1]
