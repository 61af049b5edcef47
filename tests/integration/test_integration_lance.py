"""Lance indexes (search/lance_index.py, lance_search.py) on a real Lance table in a temp folder.

Build, search (equal to the exact index), reload, add (upsert), delete, a different model refused, a
damaged table reported, the ``where`` filter, a table written by another job made an index with
`finish_lance_index`, and its IVF-PQ index's recall.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("lancedb")

from nlu_toolkit.errors import IndexCorrupted, InputError, ModelMismatch, UsageError
from nlu_toolkit.search.api import search
from nlu_toolkit.search.index import SemanticIndex
from nlu_toolkit.search.lance_index import ANN_MIN_ROWS, finish_lance_index, has_ann, open_table
from nlu_toolkit.search.lance_search import LanceIndex

TOPICS = ("shipping", "refund", "account")
CORPUS = [
    {"id": f"d{i}", "text": f"note {i} on {TOPICS[i % 3]} and the word {i * 7 % 11}", "topic": TOPICS[i % 3], "n": i}
    for i in range(40)
]
QUERIES = ["where is my parcel", "money back please", "reset my password"]


@pytest.fixture(scope="module")
def built(st_model, tmp_path_factory) -> str:
    uri = str(tmp_path_factory.mktemp("lance") / "corpus.lance")
    LanceIndex.create(uri, CORPUS, st_model).close()
    return uri


@pytest.fixture
def copy(built, tmp_path) -> str:
    """A copy of the built table, for tests that change or damage it."""
    target = tmp_path / "copy.lance"
    shutil.copytree(built, target)
    return str(target)


def _ids_scores(results) -> list[list[tuple[str, float]]]:
    return [[(str(h.doc["id"]), h.score) for h in r.hits] for r in results]


def test_search_equals_the_exact_index_ids_order_and_scores(built, st_model):
    exact = SemanticIndex.build(CORPUS, st_model)
    with exact, LanceIndex.open(built) as lance:
        assert len(lance) == len(CORPUS) and lance.kind == "lance"
        want, got = exact.search(QUERIES, top_k=7), lance.search(QUERIES, top_k=7)
    for w, g in zip(_ids_scores(want), _ids_scores(got), strict=True):
        assert [i for i, _ in g] == [i for i, _ in w]
        assert np.allclose([s for _, s in g], [s for _, s in w], atol=1e-5)
    # Hits carry the text and the passthrough columns, as the exact index's do.
    assert got[0].hits[0].to_dict() == {**want[0].hits[0].to_dict(), "score": got[0].hits[0].score}


def test_library_search_and_a_reload_take_the_table_by_its_path(built, st_model):
    with LanceIndex.open(built) as lance:
        direct = _ids_scores(lance.search(QUERIES, top_k=3))
    assert _ids_scores(search(QUERIES, index=built, top_k=3)) == direct
    assert _ids_scores(search(QUERIES, index="file://" + built, top_k=3)) == direct
    with LanceIndex.open(built) as lance:
        assert lance.manifest["model"]["sha256"] and lance.manifest["backend"] == "lance"
        assert lance.manifest["count"] == len(CORPUS)


def test_where_filters_on_passthrough_and_still_returns_top_k(built):
    # Few 'account' notes are near a parcel query: a prefilter still gives top_k of them.
    results = search(QUERIES[:1], index=built, top_k=5, where="topic = 'account'")
    hits = results[0].hits
    assert len(hits) == 5 and {h.doc["topic"] for h in hits} == {"account"}
    assert [h.rank for h in hits] == [1, 2, 3, 4, 5]
    numeric = search(QUERIES[:1], index=built, top_k=50, where="n < 4")[0].hits
    assert sorted(h.doc["id"] for h in numeric) == ["d0", "d1", "d2", "d3"]


def test_a_bad_filter_and_a_filter_on_another_index_kind_are_usage_errors(built, st_model, tmp_path):
    with pytest.raises(UsageError, match="where"):
        search("x", index=built, where="no_such_column = 1")
    folder = tmp_path / "folder-index"
    SemanticIndex.build(CORPUS[:3], st_model).save(folder)
    with pytest.raises(UsageError, match="Lance indexes only"):
        search("x", index=folder, where="topic = 'shipping'")
    with pytest.raises(UsageError, match="Lance indexes only"):
        search("x", corpus=["a", "b"], where="topic = 'shipping'")


def test_add_upserts_by_id_and_numbers_texts_without_ids(copy):
    with LanceIndex.open(copy) as lance:
        result = lance.add(
            [
                {"id": "d1", "text": "completely new words about a parcel", "topic": "shipping", "n": 1},
                {"id": "new", "text": "a new note", "topic": "refund", "n": 100},
                {"id": "new", "text": "the last of a repeated id", "topic": "refund", "n": 101},
            ]
        )
        assert (result.added, result.replaced, result.repeated, result.count) == (1, 1, 1, len(CORPUS) + 1)
        assert lance.next_id == len(CORPUS) + 1
        texts = lance.add(["a text without an id"])
        assert texts.added == 1
    with LanceIndex.open(copy) as again:  # reloaded: the changes are on disk
        docs = {d["id"]: d for d in again.documents()}
        assert docs["d1"]["text"] == "completely new words about a parcel"
        assert docs["new"]["n"] == 101
        assert docs[str(len(CORPUS) + 1)]["text"] == "a text without an id"
        hit = again.search("the last of a repeated id", top_k=1)[0].hits[0]
        assert hit.doc["id"] == "new"


def test_delete_removes_ids_and_reports_the_unknown(copy):
    with LanceIndex.open(copy) as lance:
        result = lance.delete(["d0", "d5", "nope", "d0"])
        assert (result.deleted, result.not_found, result.count) == (2, ["nope"], len(CORPUS) - 2)
        assert not {"d0", "d5"} & {h.doc["id"] for h in lance.search(QUERIES, top_k=40)[0].hits}


def test_another_model_is_refused(built, st_model_other):
    with pytest.raises(ModelMismatch, match="was built with"):
        search("x", index=built, model=st_model_other)


def test_a_column_of_another_type_is_an_input_error(copy):
    with LanceIndex.open(copy) as lance, pytest.raises(InputError, match="another type"):
        lance.add([{"id": "z", "text": "text", "topic": "x", "n": "not a number"}])
    with LanceIndex.open(copy) as lance, pytest.raises(InputError, match="column 'extra'"):
        lance.add([{"id": "z", "text": "text", "extra": 1}])


@pytest.mark.parametrize("damage", ["data-deleted", "data-truncated", "manifest-truncated", "manifest-deleted"])
def test_a_damaged_table_is_reported_never_misread(copy, damage):
    root = Path(copy)
    data = sorted((root / "data").iterdir())
    manifests = sorted((root / "_versions").glob("*.manifest"))
    if damage == "data-deleted":
        data[0].unlink()
    elif damage == "data-truncated":
        data[0].write_bytes(data[0].read_bytes()[:100])
    elif damage == "manifest-truncated":
        manifests[-1].write_bytes(manifests[-1].read_bytes()[:50])
    else:
        for m in manifests:
            m.unlink()
    with pytest.raises(IndexCorrupted, match="damaged") as caught:
        search("x", index=copy)
    assert "rebuild it" in (caught.value.hint or "")


def test_a_table_without_the_model_record_is_refused(tmp_path):
    import lancedb
    import pyarrow as pa

    db = lancedb.connect(str(tmp_path))
    db.create_table("plain", pa.table({"id": ["a"], "text": ["x"], "vector": [[0.0, 1.0]]}))
    with pytest.raises(IndexCorrupted, match="no nlu index record"):
        LanceIndex.open(str(tmp_path / "plain.lance"))


def _write_table(uri: Path, ids: list[str], texts: list[str], vectors: np.ndarray, topics: list[str]) -> None:
    """A table as another job (the Ray engine) writes it: the contract's columns, no nlu metadata."""
    import lancedb
    import pyarrow as pa

    dim = vectors.shape[1]
    table = pa.table(
        {
            "id": pa.array(ids, pa.string()),
            "text": pa.array(texts, pa.string()),
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.astype(np.float32).ravel()), dim),
            "topic": pa.array(topics, pa.string()),
        }
    )
    lancedb.connect(str(uri.parent)).create_table(uri.name[: -len(".lance")], table)


def test_finish_lance_index_makes_a_table_written_elsewhere_an_index(st_model, tmp_path):
    from nlu_toolkit.tasks.embed import Embedder

    embedder = Embedder(st_model, normalize=True)
    texts = [r["text"] for r in CORPUS]
    vectors, _ = embedder.encode(texts)
    uri = tmp_path / "job.lance"
    _write_table(uri, [r["id"] for r in CORPUS], texts, vectors, [r["topic"] for r in CORPUS])
    finish_lance_index(str(uri), model_info=embedder.model_info, normalized=True)
    exact = SemanticIndex.build(CORPUS, st_model)
    with exact:
        want = _ids_scores(exact.search(QUERIES, top_k=5))
    got = _ids_scores(search(QUERIES, index=uri, top_k=5))
    assert [[i for i, _ in r] for r in got] == [[i for i, _ in r] for r in want]
    # The table has no 'truncated' column: adding to it still works.
    with LanceIndex.open(uri) as lance:
        assert lance.add([{"id": "x", "text": "one more", "topic": "refund"}]).added == 1


def test_a_large_table_gets_an_ivf_pq_index_with_high_recall(st_model, tmp_path):
    from nlu_toolkit.tasks.embed import Embedder

    info = Embedder(st_model, normalize=True).model_info
    rng = np.random.default_rng(0)
    n, dim = ANN_MIN_ROWS + 1000, 32
    centers = rng.standard_normal((50, dim))
    vectors = centers[rng.integers(0, 50, n)] + 0.5 * rng.standard_normal((n, dim))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    uri = tmp_path / "big.lance"
    ids = [f"v{i}" for i in range(n)]
    _write_table(uri, ids, ids, vectors, ["t"] * n)
    finish_lance_index(str(uri), model_info=info, normalized=True)
    assert has_ann(open_table(uri))
    queries = vectors[rng.choice(n, 30, replace=False)] + 0.05 * rng.standard_normal((30, dim)).astype(np.float32)
    truth = np.argsort(-(queries @ vectors.T), axis=1)[:, :10]
    with LanceIndex.open(uri) as lance:
        found = lance.search_embeddings(queries, top_k=10)
    recall = np.mean([len({ids[j] for j in t} & {i for i, _ in f}) / 10 for t, f in zip(truth, found, strict=True)])
    assert recall >= 0.9, recall


def test_readers_hold_no_lock_and_see_what_a_writer_adds(copy):
    with LanceIndex.open(copy, refresh_s=0) as one, LanceIndex.open(copy, refresh_s=0) as two:
        before = _ids_scores(one.search(QUERIES, top_k=3))
        assert _ids_scores(two.search(QUERIES, top_k=3)) == before
        with LanceIndex.open(copy) as writer:
            writer.add([{"id": "w", "text": "written while others read", "topic": "refund", "n": 0}])
        for reader in (one, two):  # the new version is searched, without reopening
            hits = reader.search("written while others read", top_k=1)[0].hits
            assert hits[0].doc["id"] == "w"


def test_a_reader_refuses_a_table_replaced_with_another_model(copy, st_model_other):
    with LanceIndex.open(copy, refresh_s=0) as reader:
        LanceIndex.create(copy, CORPUS[:3], st_model_other, overwrite=True).close()
        with pytest.raises(IndexCorrupted, match="replaced since it was opened"):
            reader.search("x")
