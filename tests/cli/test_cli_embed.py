"""`nlu embed`, `nlu index`, `nlu similarity` and `nlu dedupe` through CliRunner on the tiny models.

References are sentence-transformers itself: `SentenceTransformer(folder).encode` for vectors,
`util.semantic_search` for hits and `CrossEncoder(folder).predict` for re-ranking.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_checks import check_error, check_ok, jsonl, listing
from typer.testing import CliRunner

from nlu_toolkit.cli.app import app
from nlu_toolkit.tasks.embed import Embedder

LONG_TEXT = "the movie was good and the actors were great but the plot was boring " * 10
QUERIES = ["I forgot my password", "the film was great", "money in the bank"]


def corpus(data_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (data_dir / "corpus.jsonl").read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def encode(st_model):
    """sentence-transformers' own ``encode`` on the tiny model."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(st_model, device="cpu")
    return lambda texts: model.encode(list(texts), convert_to_numpy=True, show_progress_bar=False)


@pytest.fixture(scope="module")
def built_index(st_model, data_dir, tmp_path_factory) -> Path:
    """``nlu index build data/corpus.jsonl --out DIR``, once for the module; tests copy it before changing it."""
    out = tmp_path_factory.mktemp("cli-index") / "corpus.idx"
    result = CliRunner().invoke(
        app, ["index", "build", str(data_dir / "corpus.jsonl"), "--out", str(out), "--model", st_model]
    )
    check_ok(result)
    return out


@pytest.fixture
def index_copy(built_index, tmp_path) -> Path:
    target = tmp_path / "copy.idx"
    shutil.copytree(built_index, target)
    return target


@pytest.fixture
def spy_encode(monkeypatch) -> list[list[str]]:
    """Every list of texts passed to `Embedder.encode`, in call order."""
    calls: list[list[str]] = []
    original = Embedder.encode

    def spy(self, texts):
        calls.append(list(texts))
        return original(self, texts)

    monkeypatch.setattr(Embedder, "encode", spy)
    return calls


# -- embedding ----------------------------------------------------------------------------


def test_texts_as_arguments_give_jsonl(nlu, st_model, encode):
    texts = ["I loved this film", "Dull and far too long"]
    result = nlu("embed", "--model", st_model, *texts)
    check_ok(result)
    records = jsonl(result.stdout)
    assert [r["id"] for r in records] == [0, 1]
    assert all(set(r) == {"id", "truncated", "embedding"} and r["truncated"] is False for r in records)
    np.testing.assert_allclose(np.array([r["embedding"] for r in records]), encode(texts), atol=1e-5)


def test_stdin(nlu, st_model, encode):
    result = nlu("embed", "--model", st_model, "-", input="good film\n\nbad film\n")
    check_ok(result)
    records = jsonl(result.stdout)
    assert [r["id"] for r in records] == [0, 1]
    np.testing.assert_allclose(
        np.array([r["embedding"] for r in records]), encode(["good film", "bad film"]), atol=1e-5
    )


def test_npy_output_is_the_matrix_in_input_order(nlu, st_model, encode, data_dir, out_dir):
    rows = corpus(data_dir)
    result = nlu("embed", "--model", st_model, "--input", data_dir / "corpus.jsonl", "-o", out_dir / "x.npy")
    check_ok(result)
    assert result.stdout == ""
    assert listing(out_dir) == ["x.npy"]
    matrix = np.load(out_dir / "x.npy", allow_pickle=False)
    assert matrix.shape == (34, 32) and matrix.dtype == np.float32
    np.testing.assert_allclose(matrix, encode([r["text"] for r in rows]), atol=1e-5)


def test_parquet_output_has_ids_embeddings_and_passthrough(nlu, st_model, encode, data_dir, out_dir):
    import pyarrow.parquet as pq

    rows = corpus(data_dir)
    check_ok(nlu("embed", "--model", st_model, "--input", data_dir / "corpus.jsonl", "-o", out_dir / "x.parquet"))
    assert listing(out_dir) == ["x.parquet"]
    table = pq.read_table(out_dir / "x.parquet").to_pylist()
    assert [r["id"] for r in table] == [r["id"] for r in rows]
    assert [r["topic"] for r in table] == [r["topic"] for r in rows]
    np.testing.assert_allclose(np.array([r["embedding"] for r in table]), encode([r["text"] for r in rows]), atol=1e-5)


def test_jsonl_output_records(nlu, st_model, encode, data_dir, out_dir):
    rows = corpus(data_dir)
    check_ok(nlu("embed", "--model", st_model, "--input", data_dir / "corpus.jsonl", "-o", out_dir / "x.jsonl"))
    records = jsonl((out_dir / "x.jsonl").read_text(encoding="utf-8"))
    assert [r["id"] for r in records] == [r["id"] for r in rows]
    for record, row in zip(records, rows, strict=True):
        assert {"id", "embedding", "truncated"} <= set(record) and record["topic"] == row["topic"]
    np.testing.assert_allclose(
        np.array([r["embedding"] for r in records]), encode([r["text"] for r in rows]), atol=1e-5
    )


def test_normalize(nlu, st_model_unnormalized, data_dir, out_dir):
    src = data_dir / "corpus.jsonl"
    check_ok(nlu("embed", "--model", st_model_unnormalized, "--input", src, "-o", out_dir / "raw.npy"))
    check_ok(nlu("embed", "--model", st_model_unnormalized, "--input", src, "-o", out_dir / "unit.npy", "--normalize"))
    raw, unit = np.load(out_dir / "raw.npy"), np.load(out_dir / "unit.npy")
    assert not np.allclose(np.linalg.norm(raw, axis=1), 1.0, atol=1e-3)
    np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(unit, raw / np.linalg.norm(raw, axis=1, keepdims=True), atol=1e-5)


def test_precision_int8_and_ubinary(nlu, st_model, data_dir, out_dir):
    src = data_dir / "corpus.jsonl"
    check_ok(nlu("embed", "--model", st_model, "--input", src, "-o", out_dir / "f.npy"))
    check_ok(nlu("embed", "--model", st_model, "--input", src, "-o", out_dir / "i8.npy", "--precision", "int8"))
    check_ok(nlu("embed", "--model", st_model, "--input", src, "-o", out_dir / "b.npy", "--precision", "ubinary"))
    floats, int8, bits = (np.load(out_dir / name) for name in ("f.npy", "i8.npy", "b.npy"))
    assert int8.dtype == np.int8 and int8.shape == (34, 32)
    assert bits.dtype == np.uint8 and bits.shape == (34, 32 // 8)
    np.testing.assert_array_equal(bits, np.packbits(floats > 0, axis=1))


def test_long_truncate_flags_and_chunk_differs(nlu, st_model, tmp_path, out_dir):
    src = tmp_path / "long.jsonl"
    src.write_text(
        "".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(["good film", LONG_TEXT])),
        encoding="utf-8",
    )
    check_ok(nlu("embed", "--model", st_model, "--input", src, "-o", out_dir / "t.jsonl", "--long", "truncate"))
    check_ok(nlu("embed", "--model", st_model, "--input", src, "-o", out_dir / "c.jsonl", "--long", "chunk"))
    cut = jsonl((out_dir / "t.jsonl").read_text(encoding="utf-8"))
    pooled = jsonl((out_dir / "c.jsonl").read_text(encoding="utf-8"))
    assert [r["truncated"] for r in cut] == [False, True]
    assert [r["truncated"] for r in pooled] == [False, False]
    np.testing.assert_allclose(cut[0]["embedding"], pooled[0]["embedding"], atol=1e-5)
    assert np.abs(np.array(cut[1]["embedding"]) - np.array(pooled[1]["embedding"])).max() > 1e-3


@pytest.mark.parametrize("fmt", ["npy", "parquet"])
def test_binary_format_without_output_is_a_usage_error(nlu, st_model, fmt):
    check_error(nlu("embed", "--model", st_model, "--format", fmt, "good film"), 2, contains="--output")


def test_search_options_without_search_are_a_usage_error(nlu, st_model, data_dir):
    check_error(nlu("embed", "--model", st_model, "good film", "--corpus", data_dir / "corpus.jsonl"), 2)


# -- search -------------------------------------------------------------------------------


def expected_hits(encode, rows, queries, top_k):
    import torch
    from sentence_transformers import util

    corpus_vectors = torch.from_numpy(encode([r["text"] for r in rows]))
    query_vectors = torch.from_numpy(encode(queries))
    found = util.semantic_search(query_vectors, corpus_vectors, top_k=top_k)
    return [[(rows[h["corpus_id"]]["id"], h["score"]) for h in q] for q in found]


def check_search_records(records, queries, rows, top_k):
    by_id = {r["id"]: r for r in rows}
    assert [r["query_index"] for r in records] == list(range(len(queries)))
    assert [r["query"] for r in records] == queries
    for record in records:
        assert set(record) == {"query_index", "query", "hits"}
        assert [h["rank"] for h in record["hits"]] == list(range(1, top_k + 1))
        scores = [h["score"] for h in record["hits"]]
        assert scores == sorted(scores, reverse=True)
        for hit in record["hits"]:
            assert hit["text"] == by_id[hit["id"]]["text"] and hit["topic"] == by_id[hit["id"]]["topic"]


def same_hits(records, want) -> None:
    got = [[(h["id"], h["score"]) for h in r["hits"]] for r in records]
    assert [[i for i, _ in q] for q in got] == [[i for i, _ in q] for q in want]
    for g, w in zip(got, want, strict=True):
        assert [s for _, s in g] == pytest.approx([s for _, s in w], abs=1e-5)


def test_search_a_corpus_file_equals_semantic_search(nlu, st_model, encode, data_dir):
    rows = corpus(data_dir)
    args = ["embed", "--model", st_model, "--corpus", data_dir / "corpus.jsonl", "-k", "5"]
    result = nlu(*args, *(x for q in QUERIES for x in ("--search", q)))
    check_ok(result)
    records = jsonl(result.stdout)
    check_search_records(records, QUERIES, rows, 5)
    same_hits(records, expected_hits(encode, rows, QUERIES, 5))


def test_queries_file(nlu, st_model, encode, data_dir, tmp_path):
    rows = corpus(data_dir)
    path = tmp_path / "queries.txt"
    path.write_text("\n".join(QUERIES) + "\n", encoding="utf-8")
    result = nlu("embed", "--model", st_model, "--corpus", data_dir / "corpus.jsonl", "--queries", path, "-k", "3")
    check_ok(result)
    records = jsonl(result.stdout)
    check_search_records(records, QUERIES, rows, 3)
    same_hits(records, expected_hits(encode, rows, QUERIES, 3))


def test_search_output_file_and_csv(nlu, st_model, data_dir, out_dir):
    args = ["embed", "--model", st_model, "--corpus", data_dir / "corpus.jsonl", "-s", QUERIES[0], "-k", "2"]
    check_ok(nlu(*args, "-o", out_dir / "hits.json"))
    (record,) = json.loads((out_dir / "hits.json").read_text(encoding="utf-8"))
    assert record["query"] == QUERIES[0] and len(record["hits"]) == 2
    check_ok(nlu(*args, "-o", out_dir / "hits.csv"))
    assert (out_dir / "hits.csv").read_text(encoding="utf-8").splitlines()[0].split(",")[:3] == [
        "query_index",
        "query",
        "hits",
    ]
    assert listing(out_dir) == ["hits.csv", "hits.json"]


def test_index_build_writes_the_files_and_no_pickle(nlu, st_model, data_dir, built_index):
    names = sorted(p.name for p in built_index.rglob("*"))
    assert names == ["docs.jsonl", "manifest.json", "run_manifest.json", "vectors.safetensors"]
    for path in built_index.iterdir():
        assert path.suffix not in (".pkl", ".pickle", ".pt", ".bin", ".npy")
        assert not path.read_bytes().startswith(b"\x80"), f"{path.name} looks like a pickle"
    manifest = json.loads((built_index / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["count"] == 34 and manifest["dimension"] == 32 and manifest["model"]["path"] == st_model
    assert [json.loads(line)["id"] for line in (built_index / "docs.jsonl").open(encoding="utf-8")] == [
        r["id"] for r in corpus(data_dir)
    ]


def test_index_build_prints_a_summary(nlu, st_model, data_dir, tmp_path):
    out = tmp_path / "idx"
    result = nlu("index", "build", data_dir / "corpus.jsonl", "--out", out, "--model", st_model, "--precision", "int8")
    check_ok(result)
    (summary,) = jsonl(result.stdout)
    assert summary["count"] == 34 and summary["precision"] == "int8" and summary["path"] == str(out)
    assert summary["dimension"] == 32 and summary["backend"] == "exact"


def test_index_info(nlu, built_index):
    result = nlu("index", "info", built_index, "--format", "json")
    check_ok(result)
    (info,) = json.loads(result.stdout)
    manifest = json.loads((built_index / "manifest.json").read_text(encoding="utf-8"))
    assert info["count"] == 34 and info["dimension"] == 32 and info["precision"] == "float32"
    assert info["model_sha256"] == manifest["model"]["sha256"]
    assert info["corpus_fingerprint"] == manifest["corpus_fingerprint"]


def test_search_an_index_equals_the_corpus_and_encodes_only_queries(nlu, st_model, data_dir, built_index, spy_encode):
    args = ["embed", "-k", "4", *(x for q in QUERIES for x in ("--search", q))]
    from_corpus = nlu(*args, "--model", st_model, "--corpus", data_dir / "corpus.jsonl")
    check_ok(from_corpus)
    spy_encode.clear()
    from_index = nlu(*args, "--index", built_index)
    check_ok(from_index)
    assert spy_encode == [QUERIES]  # the corpus is not encoded again
    assert jsonl(from_index.stdout) == jsonl(from_corpus.stdout)
    spy_encode.clear()
    with_model = nlu(*args, "--index", built_index, "--model", st_model)  # the same model, named: fine
    check_ok(with_model)
    assert spy_encode == [QUERIES]
    assert jsonl(with_model.stdout) == jsonl(from_corpus.stdout)


def test_index_add(nlu, st_model, data_dir, index_copy, tmp_path):
    new = tmp_path / "more.jsonl"
    docs = [
        {"id": "new-01", "text": "Mega tron bus zen in berlin", "topic": "misc"},
        {"id": "new-02", "text": "John and Mary love the river at london", "topic": "misc"},
    ]
    new.write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    search = ["embed", "--index", index_copy, "-k", "36", *(x for q in QUERIES for x in ("--search", q))]
    before = jsonl(nlu(*search).stdout)
    result = nlu("index", "add", index_copy, new)
    check_ok(result)
    assert jsonl(result.stdout)[0]["count"] == 36
    manifest = json.loads((index_copy / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["count"] == 36
    after = jsonl(nlu(*search).stdout)
    old = [[(h["id"], h["score"]) for h in r["hits"]] for r in before]
    same_hits([{"hits": [h for h in r["hits"] if not h["id"].startswith("new-")]} for r in after], old)
    found = nlu("embed", "--index", index_copy, "-k", "1", "--search", docs[0]["text"], "--search", docs[1]["text"])
    check_ok(found)
    assert [r["hits"][0]["id"] for r in jsonl(found.stdout)] == ["new-01", "new-02"]
    assert [r["hits"][0]["topic"] for r in jsonl(found.stdout)] == ["misc", "misc"]
    assert sorted(p.name for p in index_copy.parent.iterdir()) == ["copy.idx", "more.jsonl"]  # no temp folders


@pytest.mark.parametrize("precision", ["int8", "ubinary"])
def test_quantized_index_top1_equals_float(nlu, st_model, data_dir, built_index, tmp_path, precision):
    out = tmp_path / f"{precision}.idx"
    check_ok(
        nlu("index", "build", data_dir / "corpus.jsonl", "--out", out, "--model", st_model, "--precision", precision)
    )
    queries = tmp_path / "queries.jsonl"
    queries.write_bytes((data_dir / "corpus.jsonl").read_bytes())  # every document, as a query
    want = jsonl(nlu("embed", "--index", built_index, "--queries", queries, "-k", "1").stdout)
    got = nlu("embed", "--index", out, "--queries", queries, "-k", "1")
    check_ok(got)
    assert [r["hits"][0]["id"] for r in jsonl(got.stdout)] == [r["hits"][0]["id"] for r in want]
    assert [r["hits"][0]["id"] for r in want] == [r["id"] for r in corpus(data_dir)]


def test_usearch_backend(nlu, st_model, data_dir, tmp_path):
    pytest.importorskip("usearch")
    out = tmp_path / "ann.idx"
    check_ok(
        nlu(
            "index", "build", data_dir / "corpus.jsonl", "--out", out, "--model", st_model, "--index-backend", "usearch"
        )
    )
    assert (out / "ann.usearch").is_file()
    queries = tmp_path / "queries.jsonl"
    queries.write_bytes((data_dir / "corpus.jsonl").read_bytes())
    result = nlu("embed", "--index", out, "--queries", queries, "-k", "1")
    check_ok(result)
    assert [r["hits"][0]["id"] for r in jsonl(result.stdout)] == [r["id"] for r in corpus(data_dir)]
    on_corpus = nlu(
        "embed",
        "--model",
        st_model,
        "--corpus",
        data_dir / "corpus.jsonl",
        "--index-backend",
        "usearch",
        "-s",
        "good film",
    )
    check_ok(on_corpus)
    assert len(jsonl(on_corpus.stdout)[0]["hits"]) == 10


def test_old_backend_spelling_still_selects_the_index_backend(nlu, st_model, data_dir, tmp_path):
    pytest.importorskip("usearch")
    out = tmp_path / "ann.idx"
    result = nlu("index", "build", data_dir / "corpus.jsonl", "--out", out, "--model", st_model, "--backend", "usearch")
    check_ok(result)
    assert "--backend usearch is now --index-backend usearch" in result.stderr
    assert (out / "ann.usearch").is_file()
    wrong = nlu("classify", "x", "--model", st_model, "--labels", "a,b", "--backend", "usearch")
    check_error(wrong, 2, contains="search-index backend")


def test_usearch_backend_without_usearch_is_a_missing_extra(nlu, st_model, data_dir, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "usearch", None)  # `import usearch` now raises ImportError
    monkeypatch.setitem(sys.modules, "usearch.index", None)
    out = tmp_path / "ann.idx"
    result = nlu(
        "index", "build", data_dir / "corpus.jsonl", "--out", out, "--model", st_model, "--index-backend", "usearch"
    )
    check_error(result, 2, contains="pip install 'nlu-toolkit[ann]'")
    assert not out.exists() and listing(tmp_path) == []


def test_rerank_reorders_by_cross_encoder_score(nlu, st_model, cross_encoder_model, data_dir):
    from sentence_transformers import CrossEncoder

    args = [
        "embed",
        "--model",
        st_model,
        "--corpus",
        data_dir / "corpus.jsonl",
        *(x for q in QUERIES for x in ("-s", q)),
    ]
    pool = jsonl(nlu(*args, "-k", "20").stdout)  # the candidates re-ranked for -k 3: max(4 * 3, 20)
    result = nlu(*args, "-k", "3", "--rerank", cross_encoder_model)
    check_ok(result)
    records = jsonl(result.stdout)
    cross = CrossEncoder(cross_encoder_model, device="cpu")
    # The cross-encoder really reorders: its top 3 are not the retrieval top 3 for every query.
    assert [[h["id"] for h in r["hits"]] for r in records] != [[h["id"] for h in r["hits"][:3]] for r in pool]
    for record, candidates in zip(records, pool, strict=True):
        scores = cross.predict([(record["query"], h["text"]) for h in candidates["hits"]], show_progress_bar=False)
        order = np.argsort(-np.asarray(scores), kind="stable")[:3]
        assert [h["id"] for h in record["hits"]] == [candidates["hits"][i]["id"] for i in order]
        assert [h["score"] for h in record["hits"]] == pytest.approx([float(scores[i]) for i in order], abs=1e-5)
        assert [h["rank"] for h in record["hits"]] == [1, 2, 3]
        retrieval = {h["id"]: h["score"] for h in candidates["hits"]}
        for hit in record["hits"]:
            assert hit["retrieval_score"] == pytest.approx(retrieval[hit["id"]], abs=1e-6)


def test_rerank_on_an_index(nlu, st_model, cross_encoder_model, data_dir, built_index):
    args = ["-k", "3", "--rerank", cross_encoder_model, "-s", QUERIES[0]]
    on_index = nlu("embed", "--index", built_index, *args)
    on_corpus = nlu("embed", "--model", st_model, "--corpus", data_dir / "corpus.jsonl", *args)
    check_ok(on_index)
    assert jsonl(on_index.stdout) == jsonl(on_corpus.stdout)


# -- search errors ------------------------------------------------------------------------


def test_a_missing_rerank_model_names_rerank_not_model(nlu, st_model, data_dir, tmp_path):
    """The loader's hint said "pass --model PATH" for a rerank model the user gave as --rerank."""
    args = ["embed", "--model", st_model, "--corpus", data_dir / "corpus.jsonl", "-s", QUERIES[0]]
    line = check_error(nlu(*args, "--rerank", tmp_path / "no" / "such" / "model"), 2, contains="--rerank")
    assert "--model" not in line


def test_the_library_names_the_rerank_parameter(st_model, data_dir, tmp_path):
    from nlu_toolkit import search
    from nlu_toolkit.errors import ModelNotAvailable

    with pytest.raises(ModelNotAvailable) as caught:
        search([QUERIES[0]], corpus=str(data_dir / "corpus.jsonl"), model=st_model, rerank=str(tmp_path / "a" / "b"))
    assert caught.value.params == ["rerank"]
    assert "given as rerank" in str(caught.value)


def test_search_needs_a_corpus_or_an_index(nlu, st_model, data_dir, built_index):
    check_error(nlu("embed", "--model", st_model, "--search", "refund"), 2, contains="--corpus")
    both = nlu("embed", "--search", "refund", "--corpus", data_dir / "corpus.jsonl", "--index", built_index)
    check_error(both, 2, contains="--index")


def test_search_with_texts_or_a_bad_format(nlu, st_model, data_dir):
    corpus_args = ["--model", st_model, "--corpus", data_dir / "corpus.jsonl", "--search", "refund"]
    check_error(nlu("embed", *corpus_args, "good film"), 2)
    check_error(nlu("embed", *corpus_args, "--format", "npy"), 2)


def test_missing_index_folder(nlu, tmp_path, out_dir):
    result = nlu("embed", "--search", "refund", "--index", tmp_path / "nope", "-o", out_dir / "hits.jsonl")
    check_error(result, 2, contains="nlu index build")
    assert listing(out_dir) == []
    check_error(nlu("index", "info", tmp_path / "nope"), 2)
    check_error(nlu("index", "add", tmp_path / "nope", tmp_path / "nope.jsonl"), 2)


def test_corrupted_vectors(nlu, index_copy, out_dir):
    path = index_copy / "vectors.safetensors"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    result = nlu("embed", "--search", "refund", "--index", index_copy, "-o", out_dir / "hits.jsonl")
    check_error(result, 1, contains="vectors.safetensors")
    assert listing(out_dir) == []


def test_truncated_docs(nlu, index_copy):
    path = index_copy / "docs.jsonl"
    path.write_bytes(path.read_bytes()[:-25])
    check_error(nlu("embed", "--search", "refund", "--index", index_copy), 1, contains="docs.jsonl")


def test_manifest_not_json(nlu, index_copy, tmp_path):
    (index_copy / "manifest.json").write_text("{this is not json", encoding="utf-8")
    check_error(nlu("embed", "--search", "refund", "--index", index_copy), 1, contains="manifest.json")
    check_error(nlu("index", "info", index_copy), 1, contains="manifest.json")
    more = tmp_path / "more.txt"
    more.write_text("good film\n", encoding="utf-8")
    check_error(nlu("index", "add", index_copy, more), 1)


def test_another_model_is_a_model_mismatch(nlu, built_index, st_model_other):
    result = nlu("embed", "--search", "refund", "--index", built_index, "--model", st_model_other)
    check_error(result, 2, contains="--model")


# -- similarity and dedupe ----------------------------------------------------------------


def test_similarity_of_two_texts(nlu, st_model, encode):
    same = nlu("similarity", "--model", st_model, "good film", "good film")
    check_ok(same)
    (record,) = jsonl(same.stdout)
    assert record == {"a": "good film", "b": "good film", "score": pytest.approx(1.0, abs=1e-5)}
    other = nlu("similarity", "--model", st_model, "good film", "the river bank")
    check_ok(other)
    a, b = encode(["good film", "the river bank"])
    assert jsonl(other.stdout)[0]["score"] == pytest.approx(float(a @ b), abs=1e-5)


def test_similarity_pairs_file(nlu, st_model, encode, tmp_path):
    pairs = [("good film", "good film"), ("the river bank", "money in the bank"), ("I loved it", "awful plot")]
    path = tmp_path / "pairs.csv"
    path.write_text("a,b\n" + "".join(f"{a},{b}\n" for a, b in pairs), encoding="utf-8")
    result = nlu("similarity", "--model", st_model, "--pairs", path)
    check_ok(result)
    records = jsonl(result.stdout)
    assert [(r["a"], r["b"]) for r in records] == pairs
    assert all(set(r) == {"a", "b", "score"} for r in records)
    assert records[0]["score"] == pytest.approx(1.0, abs=1e-5)
    for record, (a, b) in zip(records, pairs, strict=True):
        va, vb = encode([a, b])
        assert record["score"] == pytest.approx(float(va @ vb), abs=1e-5)


def test_similarity_usage_errors(nlu, st_model, tmp_path):
    check_error(nlu("similarity", "--model", st_model, "only one"), 2)
    path = tmp_path / "pairs.csv"
    path.write_text("a,b\nx,y\n", encoding="utf-8")
    check_error(nlu("similarity", "--model", st_model, "x", "y", "--pairs", path), 2)


def test_dedupe_finds_an_inserted_duplicate(nlu, st_model, data_dir, tmp_path):
    rows = corpus(data_dir)
    path = tmp_path / "with-dup.jsonl"
    dup = {"id": "dup-01", "text": rows[4]["text"], "topic": rows[4]["topic"]}
    path.write_text("".join(json.dumps(r) + "\n" for r in [*rows, dup]), encoding="utf-8")
    result = nlu("dedupe", "--model", st_model, "--input", path, "--threshold", "0.9999")
    check_ok(result)
    records = jsonl(result.stdout)
    assert records[0] == {
        "score": pytest.approx(1.0, abs=1e-5),
        "a_id": rows[4]["id"],
        "b_id": "dup-01",
        "a": rows[4]["text"],
        "b": rows[4]["text"],
    }
    assert all(set(r) == {"score", "a_id", "b_id", "a", "b"} for r in records)


def test_dedupe_bad_threshold(nlu, st_model, data_dir):
    check_error(nlu("dedupe", "--model", st_model, "--input", data_dir / "corpus.jsonl", "--threshold", "1.5"), 2)


def test_index_add_without_ids_continues_the_numbering(nlu, st_model, tmp_path):
    first, more = tmp_path / "first.txt", tmp_path / "more.txt"
    first.write_text("good film\nbad film\n", encoding="utf-8")
    more.write_text("the river bank\nmoney in the bank\n", encoding="utf-8")
    out = tmp_path / "idx"
    check_ok(nlu("index", "build", first, "--out", out, "--model", st_model))
    check_ok(nlu("index", "add", out, more))
    ids = [json.loads(line)["id"] for line in (out / "docs.jsonl").open(encoding="utf-8")]
    assert ids == [0, 1, 2, 3]


def test_int8_of_a_single_text_is_a_usage_error(nlu, st_model, out_dir):
    result = nlu("embed", "--model", st_model, "good film", "--precision", "int8", "-o", out_dir / "x.npy")
    check_error(result, 2, contains="int8")
    assert listing(out_dir) == []


def test_dedupe_with_no_pairs_says_so(nlu, st_model):
    """No pair at the threshold used to print nothing at all; now stderr says why and what to try."""
    result = nlu("dedupe", "a cat sat on the mat", "quarterly revenue grew", "--model", st_model, "--threshold", "1")
    check_ok(result)
    assert result.stdout == ""
    assert "no pairs at or above --threshold 1" in result.stderr and "lower it" in result.stderr
