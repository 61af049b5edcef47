"""`SemanticIndex` on the tiny sentence-transformers model: build, search, add, save/load, precision,
backends, re-ranking, and every way a saved index can be broken.

Exact search is checked hit for hit against `sentence_transformers.util.semantic_search`
on the same vectors.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from nlu_toolkit.errors import IndexCorrupted, InputError, MissingExtra, ModelMismatch, OutputError, UsageError
from nlu_toolkit.search.index import SemanticIndex, read_manifest
from nlu_toolkit.tasks.embed import Embedder, embed

QUERIES = ["I forgot my password", "the film was great", "money in the bank", "a river in paris"]
NEW_DOCS = [
    {"id": "new-01", "text": "Mega tron bus zen in berlin", "topic": "misc"},
    {"id": "new-02", "text": "John and Mary love the river at london", "topic": "misc"},
]


def corpus(data_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (data_dir / "corpus.jsonl").read_text(encoding="utf-8").splitlines()]


def hits_of(results) -> list[list[tuple[object, float]]]:
    return [[(h.doc["id"], h.score) for h in r.hits] for r in results]


def assert_same_hits(got, want, atol=1e-5):
    assert [[i for i, _ in q] for q in got] == [[i for i, _ in q] for q in want]
    for g, w in zip(got, want, strict=True):
        assert [s for _, s in g] == pytest.approx([s for _, s in w], abs=atol)


@pytest.fixture(scope="module")
def index(st_model, data_dir) -> SemanticIndex:
    return SemanticIndex.build(corpus(data_dir), st_model)


@pytest.fixture(scope="module")
def saved(index, tmp_path_factory) -> Path:
    """The module's index, saved once; tests copy it before breaking it."""
    return index.save(tmp_path_factory.mktemp("index") / "corpus.idx")


@pytest.fixture
def copy(saved, tmp_path) -> Path:
    target = tmp_path / "copy.idx"
    shutil.copytree(saved, target)
    return target


def test_search_equals_sentence_transformers_semantic_search(index, st_model, data_dir):
    import torch
    from sentence_transformers import util

    rows = corpus(data_dir)
    _, corpus_vectors = embed(rows, st_model)
    _, query_vectors = embed(QUERIES, st_model)
    expected = util.semantic_search(torch.from_numpy(query_vectors), torch.from_numpy(corpus_vectors), top_k=5)
    results = index.search(QUERIES, top_k=5)
    assert [r.query for r in results] == QUERIES and [r.query_index for r in results] == [0, 1, 2, 3]
    assert_same_hits(hits_of(results), [[(rows[h["corpus_id"]]["id"], h["score"]) for h in q] for q in expected])
    for result in results:
        assert [h.rank for h in result.hits] == [1, 2, 3, 4, 5]
        scores = [h.score for h in result.hits]
        assert scores == sorted(scores, reverse=True)
        for hit in result.hits:
            assert hit.doc == {**rows[hit.index], **({"truncated": True} if "truncated" in hit.doc else {})}


def test_search_result_records(index, data_dir):
    rows = {r["id"]: r for r in corpus(data_dir)}
    (result,) = index.search("I forgot my password", top_k=3)
    record = result.to_dict()
    assert record["query_index"] == 0 and record["query"] == "I forgot my password"
    assert [h["rank"] for h in record["hits"]] == [1, 2, 3]
    for hit in record["hits"]:
        assert {"rank", "id", "score", "text", "topic"} <= set(hit)
        assert hit["text"] == rows[hit["id"]]["text"] and hit["topic"] == rows[hit["id"]]["topic"]


def test_top_k_larger_than_the_corpus_and_bad_top_k(index):
    (result,) = index.search("good film", top_k=1000)
    assert len(result.hits) == len(index) == 34
    assert len({h.index for h in result.hits}) == 34
    with pytest.raises(UsageError):
        index.search("good film", top_k=0)
    with pytest.raises(InputError):
        index.search([])


def test_every_document_finds_itself_first(index, data_dir):
    rows = corpus(data_dir)
    results = index.search([r["text"] for r in rows], top_k=1)
    assert [r.hits[0].doc["id"] for r in results] == [r["id"] for r in rows]
    assert all(r.hits[0].score == pytest.approx(1.0, abs=1e-5) for r in results)


def test_index_needs_normalised_vectors_and_known_options(st_model):
    with pytest.raises(UsageError):
        SemanticIndex(Embedder(st_model, normalize=False))
    with pytest.raises(UsageError):
        SemanticIndex(Embedder(st_model, normalize=True), precision="int4")
    with pytest.raises(UsageError, match="unknown kind 'faiss'"):
        SemanticIndex(Embedder(st_model, normalize=True), kind="faiss")
    with pytest.raises(UsageError, match="unknown precision 'int4'"):
        SemanticIndex(Embedder(st_model, normalize=True), precision="int4")


def test_backend_naming_the_index_kind_is_deprecated_for_kind(st_model):
    """``backend=`` was the index kind; it is now ``kind=`` and ``backend`` is the inference backend."""
    with pytest.warns(DeprecationWarning, match="kind="):
        index = SemanticIndex(Embedder(st_model, normalize=True), backend="exact")
    assert index.kind == "exact"
    with pytest.warns(DeprecationWarning, match="kind="), pytest.raises(UsageError, match="unknown kind"):
        SemanticIndex(Embedder(st_model, normalize=True), backend="faiss")
    with pytest.warns(DeprecationWarning, match="kind="):
        built = SemanticIndex.build(["good film", "bad film"], st_model, backend="exact", device="cpu")
    assert built.kind == "exact" and len(built) == 2
    with pytest.warns(DeprecationWarning, match=r"\.kind"):
        assert built.backend == "exact"
    with pytest.raises(UsageError, match="disagree"), pytest.warns(DeprecationWarning):
        SemanticIndex.build(["good film"], st_model, backend="exact", kind="usearch")


def test_build_takes_run_options_and_the_inference_backend(st_model):
    import warnings

    from nlu_toolkit import RunOptions

    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # an inference backend is no deprecated index kind
        built = SemanticIndex.build(["good film", "bad film"], st_model, backend="torch", device="cpu")
        by_run = SemanticIndex.build(["good film", "bad film"], st_model, run=RunOptions(device="cpu", batch_size=1))
    assert built.kind == by_run.kind == "exact"
    assert built.embedder.run.backend == "torch" and by_run.embedder.batch_size == 1
    np.testing.assert_allclose(built.embeddings, by_run.embeddings, atol=1e-6)
    with pytest.raises(UsageError, match="unknown backend 'faiss'"):
        SemanticIndex.build(["good film"], st_model, backend="faiss")


def test_saved_folder_layout_and_no_pickle(saved, index):
    assert sorted(p.name for p in saved.iterdir()) == [
        "docs.jsonl",
        "manifest.json",
        "run_manifest.json",
        "vectors.safetensors",
    ]
    for path in saved.iterdir():
        assert not path.read_bytes().startswith(b"\x80"), f"{path.name} looks like a pickle"
    manifest = json.loads((saved / "manifest.json").read_text(encoding="utf-8"))
    assert manifest == read_manifest(saved)
    assert manifest["count"] == 34 and manifest["dimension"] == 32
    assert manifest["precision"] == "float32" and manifest["backend"] == "exact" and manifest["normalized"] is True
    assert manifest["model"]["sha256"] and manifest["corpus_fingerprint"]
    assert set(manifest["files"]) == {"vectors.safetensors", "docs.jsonl"}
    from safetensors.numpy import load_file

    tensors = load_file(str(saved / "vectors.safetensors"))
    np.testing.assert_array_equal(tensors["embeddings"], index.embeddings)
    assert tensors["offsets"].shape == (35,) and tensors["offsets"][-1] == (saved / "docs.jsonl").stat().st_size
    lines = (saved / "docs.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["id"] for line in lines] == [d["id"] for d in index.documents()]


def test_saved_index_keeps_the_permissions_of_a_plain_folder(saved):
    """Anyone who may read the folder it was built in may read the index, as with --output files."""
    umask = os.umask(0)
    os.umask(umask)
    assert saved.stat().st_mode & 0o777 == 0o777 & ~umask
    for path in saved.iterdir():
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask, path.name


def test_save_and_load_give_identical_hits(index, saved):
    loaded = SemanticIndex.load(saved)
    assert len(loaded) == len(index)
    np.testing.assert_array_equal(loaded.embeddings, index.embeddings)
    assert list(loaded.documents()) == list(index.documents())
    assert hits_of(loaded.search(QUERIES, top_k=7)) == hits_of(index.search(QUERIES, top_k=7))
    assert loaded.manifest["corpus_fingerprint"] == index.fingerprint.hexdigest()


def test_load_encodes_only_the_queries(saved, monkeypatch):
    encoded: list[list[str]] = []
    original = Embedder.encode

    def spy(self, texts):
        encoded.append(list(texts))
        return original(self, texts)

    monkeypatch.setattr(Embedder, "encode", spy)
    loaded = SemanticIndex.load(saved)
    loaded.search(QUERIES[:2], top_k=3)
    assert encoded == [QUERIES[:2]]


def test_load_with_the_same_model_given_explicitly(saved, st_model):
    loaded = SemanticIndex.load(saved, st_model)
    assert len(loaded) == 34


def test_save_replaces_an_existing_index(index, tmp_path, data_dir):
    target = tmp_path / "idx"
    index.save(target)
    small = SemanticIndex.build(corpus(data_dir)[:5], index.embedder.loaded.info.path)
    with pytest.raises(OutputError, match="already holds an index"):
        small.save(target)  # an existing index is replaced only with overwrite=True
    assert len(SemanticIndex.load(target)) == 34
    small.save(target, overwrite=True)
    assert len(SemanticIndex.load(target)) == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["idx"]  # no temp folders left behind


def test_add_appends_and_keeps_old_hits(st_model, data_dir, tmp_path):
    rows = corpus(data_dir)
    index = SemanticIndex.build(rows, st_model)
    before = hits_of(index.search(QUERIES, top_k=len(rows)))
    assert index.add(NEW_DOCS).added == 2
    assert len(index) == len(rows) + 2
    after = hits_of(index.search(QUERIES, top_k=len(index)))
    new_ids = {d["id"] for d in NEW_DOCS}
    assert_same_hits([[h for h in q if h[0] not in new_ids] for q in after], before)
    found = index.search([d["text"] for d in NEW_DOCS], top_k=1)
    assert [r.hits[0].doc for r in found] == NEW_DOCS
    # Saved and reloaded, then grown again: same as building everything at once.
    index.save(tmp_path / "idx")
    reloaded = SemanticIndex.load(tmp_path / "idx")
    reloaded.add([{"id": "new-03", "text": "the capital of france"}])
    whole = SemanticIndex.build([*rows, *NEW_DOCS, {"id": "new-03", "text": "the capital of france"}], st_model)
    assert_same_hits(hits_of(reloaded.search(QUERIES, top_k=10)), hits_of(whole.search(QUERIES, top_k=10)))
    assert [d["id"] for d in reloaded.documents()] == [d["id"] for d in whole.documents()]


def test_documents_without_ids_are_numbered_in_index_order(st_model):
    index = SemanticIndex.build(["good film", "bad film"], st_model)
    index.add(["a river", "a bank"])
    assert [d["id"] for d in index.documents()] == [0, 1, 2, 3]


@pytest.mark.parametrize("precision", ["int8", "ubinary"])
def test_quantized_index_top1_equals_float(precision, index, st_model, data_dir, tmp_path):
    rows = corpus(data_dir)
    quantized = SemanticIndex.build(rows, st_model, precision=precision)
    # On the corpus itself; 32 sign bits are too coarse for ubinary to rank unrelated queries like float.
    queries = [r["text"] for r in rows] + (QUERIES if precision == "int8" else [])
    want = [r.hits[0].doc["id"] for r in index.search(queries, top_k=1)]
    assert [r.hits[0].doc["id"] for r in quantized.search(queries, top_k=1)] == want
    quantized.save(tmp_path / "q.idx")
    manifest = read_manifest(tmp_path / "q.idx")
    assert manifest["precision"] == precision
    from safetensors.numpy import load_file

    codes = load_file(str(tmp_path / "q.idx" / "vectors.safetensors"))["codes"]
    assert codes.dtype == (np.int8 if precision == "int8" else np.uint8)
    assert codes.shape == (34, 32 if precision == "int8" else 4)
    reloaded = SemanticIndex.load(tmp_path / "q.idx")
    assert hits_of(reloaded.search(QUERIES, top_k=3)) == hits_of(quantized.search(QUERIES, top_k=3))


def test_int8_ranges_are_kept_when_documents_are_added(st_model, data_dir):
    rows = corpus(data_dir)
    index = SemanticIndex.build(rows, st_model, precision="int8")
    ranges = index.ranges.copy()
    index.add(NEW_DOCS)
    np.testing.assert_array_equal(index.ranges, ranges)
    assert index.codes.shape == (36, 32)
    found = index.search([d["text"] for d in NEW_DOCS], top_k=1)
    assert [r.hits[0].doc["id"] for r in found] == ["new-01", "new-02"]


def test_usearch_backend(index, st_model, data_dir, tmp_path):
    pytest.importorskip("usearch")
    rows = corpus(data_dir)
    ann = SemanticIndex.build(rows, st_model, kind="usearch")
    results = ann.search([r["text"] for r in rows], top_k=1)
    assert [r.hits[0].doc["id"] for r in results] == [r["id"] for r in rows]
    ann.save(tmp_path / "ann.idx")
    assert (tmp_path / "ann.idx" / "ann.usearch").is_file()
    assert read_manifest(tmp_path / "ann.idx")["backend"] == "usearch"
    reloaded = SemanticIndex.load(tmp_path / "ann.idx")
    assert [r.hits[0].doc["id"] for r in reloaded.search(QUERIES, top_k=1)] == [
        r.hits[0].doc["id"] for r in ann.search(QUERIES, top_k=1)
    ]


def test_usearch_backend_without_usearch_is_a_missing_extra(st_model, monkeypatch):
    monkeypatch.setitem(sys.modules, "usearch", None)  # import usearch now raises ImportError
    monkeypatch.setitem(sys.modules, "usearch.index", None)
    with pytest.raises(MissingExtra) as info:
        SemanticIndex.build(["good film", "bad film"], st_model, kind="usearch")
    assert "pip install" in info.value.hint and "ann" in info.value.hint


def test_rerank_with_a_cross_encoder(index, cross_encoder_model):
    from sentence_transformers import CrossEncoder

    cross = CrossEncoder(cross_encoder_model, device="cpu")
    candidates = index.search(QUERIES, top_k=20)
    results = index.search(QUERIES, top_k=3, rerank=cross_encoder_model)
    for result, pool in zip(results, candidates, strict=True):
        scores = cross.predict([(result.query, h.doc["text"]) for h in pool.hits], show_progress_bar=False)
        order = np.argsort(-np.asarray(scores), kind="stable")[:3]
        assert [h.doc["id"] for h in result.hits] == [pool.hits[i].doc["id"] for i in order]
        assert [h.score for h in result.hits] == pytest.approx([float(scores[i]) for i in order], abs=1e-5)
        assert [h.rank for h in result.hits] == [1, 2, 3]
        retrieval = {h.doc["id"]: h.score for h in pool.hits}
        for hit in result.hits:
            record = hit.to_dict()
            assert record["retrieval_score"] == pytest.approx(retrieval[record["id"]], abs=1e-6)
            assert record["score"] == hit.score


# -- broken indexes -----------------------------------------------------------------------


def test_missing_folder(tmp_path):
    with pytest.raises(InputError) as info:
        SemanticIndex.load(tmp_path / "nope")
    assert info.value.exit_code == 2 and "nlu index build" in info.value.hint


def test_folder_without_manifest(tmp_path):
    with pytest.raises(IndexCorrupted):
        SemanticIndex.load(tmp_path)


def test_flipped_byte_in_vectors(copy):
    path = copy / "vectors.safetensors"
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(IndexCorrupted, match=r"vectors\.safetensors") as info:
        SemanticIndex.load(copy)
    assert info.value.exit_code == 1


def test_unreadable_vectors_without_verification(copy):
    path = copy / "vectors.safetensors"
    path.write_bytes(b"\x00" * 16 + path.read_bytes()[16:])  # header length and JSON header destroyed
    with pytest.raises(IndexCorrupted, match=r"vectors\.safetensors"):
        SemanticIndex.load(copy, verify=False)


def test_truncated_docs(copy):
    path = copy / "docs.jsonl"
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(IndexCorrupted, match=r"docs\.jsonl"):
        SemanticIndex.load(copy)
    with pytest.raises(IndexCorrupted, match=r"docs\.jsonl"):
        SemanticIndex.load(copy, verify=False)


def test_missing_docs(copy):
    (copy / "docs.jsonl").unlink()
    with pytest.raises(IndexCorrupted, match=r"docs\.jsonl"):
        SemanticIndex.load(copy)


@pytest.mark.parametrize(
    "manifest",
    [
        "{not json",
        "[1, 2, 3]",
        json.dumps({"format": "something-else", "version": 1}),
        b"\xff\xfe not utf-8",
    ],
)
def test_bad_manifest(copy, manifest):
    path = copy / "manifest.json"
    path.write_bytes(manifest if isinstance(manifest, bytes) else manifest.encode())
    with pytest.raises(IndexCorrupted) as info:
        SemanticIndex.load(copy)
    assert info.value.exit_code == 1


def test_manifest_count_disagreeing_with_the_vectors(copy):
    path = copy / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["count"] = 35
    path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(IndexCorrupted):
        SemanticIndex.load(copy)


def test_newer_format_version(copy):
    path = copy / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["version"] = 99
    path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(IndexCorrupted, match="newer"):
        SemanticIndex.load(copy)


def test_another_model_is_a_model_mismatch(saved, st_model_other):
    with pytest.raises(ModelMismatch) as info:
        SemanticIndex.load(saved, st_model_other)
    assert info.value.exit_code == 2
