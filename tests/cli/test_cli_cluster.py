"""`nlu cluster` through CliRunner: every method on the tiny model and on saved embeddings,
the summary file, the PNG map, seeds and bad options."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cli_checks import check_error, check_ok, jsonl, listing

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


METHODS = [
    pytest.param(["--method", "kmeans", "--k", "3"], id="kmeans-k3"),
    pytest.param(["--method", "kmeans", "--k", "auto"], id="kmeans-auto"),
    pytest.param(["--method", "agglomerative", "--k", "4"], id="agglomerative-k4"),
    pytest.param(["--method", "agglomerative", "--threshold", "0.97"], id="agglomerative-threshold"),
    pytest.param(["--method", "community", "--threshold", "0.97", "--min-size", "3"], id="community"),
    pytest.param(["--method", "hdbscan", "--min-size", "2"], id="hdbscan"),
]


def corpus(data_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (data_dir / "corpus.jsonl").read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def vectors_npy(st_model, data_dir, tmp_path_factory) -> Path:
    """``nlu embed --input data/corpus.jsonl -o X.npy``, once for the module."""
    from typer.testing import CliRunner

    from nlu_toolkit.cli.app import app

    path = tmp_path_factory.mktemp("cluster-vectors") / "x.npy"
    args = ["embed", "--model", st_model, "--input", str(data_dir / "corpus.jsonl"), "-o", str(path)]
    check_ok(CliRunner().invoke(app, args))
    return path


def check_records_and_summary(records, summary, rows: list[dict] | None, n: int = 34) -> None:
    assert len(records) == n
    if rows is not None:
        assert [r["id"] for r in records] == [r["id"] for r in rows]
        assert [r["text"] for r in records] == [r["text"] for r in rows]
        assert [r["topic"] for r in records] == [r["topic"] for r in rows]
    else:
        assert [r["id"] for r in records] == list(range(n))
    labels = np.array([r["cluster"] for r in records])
    assert labels.min() >= -1
    clusters = [c for c in summary if c["cluster"] >= 0]
    assert sum(c["size"] for c in clusters) == int((labels >= 0).sum())
    assert sorted(c["cluster"] for c in clusters) == sorted(set(labels.tolist()) - {-1})
    for c in summary:
        assert set(c) == {"cluster", "size", "keywords", "representatives"}
        assert c["size"] == int((labels == c["cluster"]).sum())
        if rows is not None and c["cluster"] >= 0:
            members = {rows[i]["text"] for i in np.flatnonzero(labels == c["cluster"])}
            assert c["representatives"] and set(c["representatives"]) <= members


@pytest.mark.parametrize("method", METHODS)
def test_methods_on_texts(nlu, st_model, data_dir, tmp_path, method):
    rows = corpus(data_dir)
    summary = tmp_path / "summary.jsonl"
    result = nlu("cluster", "--model", st_model, "--input", data_dir / "corpus.jsonl", *method, "--summary", summary)
    check_ok(result)
    records = jsonl(result.stdout)
    clusters = jsonl(summary.read_text(encoding="utf-8"))
    check_records_and_summary(records, clusters, rows)
    assert all(c["keywords"] for c in clusters if c["cluster"] >= 0)
    if "--k" in method and method[method.index("--k") + 1] != "auto":
        assert len({r["cluster"] for r in records}) == int(method[method.index("--k") + 1])


@pytest.mark.parametrize("method", METHODS)
def test_methods_on_saved_embeddings(nlu, vectors_npy, data_dir, tmp_path, method):
    summary = tmp_path / "summary.json"
    alone = nlu("cluster", "--embeddings", vectors_npy, *method, "--summary", summary)
    check_ok(alone)
    records = jsonl(alone.stdout)
    check_records_and_summary(records, json.loads(summary.read_text(encoding="utf-8")), None)
    assert all(set(r) == {"id", "cluster"} for r in records)
    # With the texts too: the same labels, plus ids, texts and keywords.
    with_texts = nlu(
        "cluster", "--embeddings", vectors_npy, "--input", data_dir / "corpus.jsonl", *method, "--summary", summary
    )
    check_ok(with_texts)
    labelled = jsonl(with_texts.stdout)
    clusters = json.loads(summary.read_text(encoding="utf-8"))
    check_records_and_summary(labelled, clusters, corpus(data_dir))
    assert [r["cluster"] for r in labelled] == [r["cluster"] for r in records]
    assert all(c["keywords"] for c in clusters if c["cluster"] >= 0)


def test_texts_and_their_embeddings_give_the_same_clusters(nlu, st_model, vectors_npy, data_dir):
    args = ["--method", "kmeans", "--k", "3", "--seed", "3"]
    from_texts = nlu("cluster", "--model", st_model, "--input", data_dir / "corpus.jsonl", *args)
    from_vectors = nlu("cluster", "--embeddings", vectors_npy, "--input", data_dir / "corpus.jsonl", *args)
    check_ok(from_texts)
    check_ok(from_vectors)
    assert jsonl(from_texts.stdout) == jsonl(from_vectors.stdout)


def test_parquet_embeddings(nlu, st_model, data_dir, tmp_path, vectors_npy):
    path = tmp_path / "x.parquet"
    check_ok(nlu("embed", "--model", st_model, "--input", data_dir / "corpus.jsonl", "-o", path))
    from_parquet = nlu("cluster", "--embeddings", path, "--k", "3")
    from_npy = nlu("cluster", "--embeddings", vectors_npy, "--k", "3")
    check_ok(from_parquet)
    assert jsonl(from_parquet.stdout) == jsonl(from_npy.stdout)


def test_summary_goes_to_stderr_without_summary_file(nlu, vectors_npy):
    result = nlu("cluster", "--embeddings", vectors_npy, "--k", "3")
    check_ok(result)
    assert "cluster" in result.stderr and "size" in result.stderr
    assert len(jsonl(result.stdout)) == 34


def test_summary_csv(nlu, vectors_npy, tmp_path):
    summary = tmp_path / "summary.csv"
    check_ok(nlu("cluster", "--embeddings", vectors_npy, "--k", "3", "--summary", summary))
    lines = summary.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "cluster,size,keywords,representatives" and len(lines) == 4


def test_output_file(nlu, vectors_npy, out_dir):
    result = nlu("cluster", "--embeddings", vectors_npy, "--k", "3", "-o", out_dir / "clusters.csv")
    check_ok(result)
    assert result.stdout == ""
    lines = (out_dir / "clusters.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "id,cluster" and len(lines) == 35


def test_plot_writes_a_png_and_no_temp_files(nlu, st_model, data_dir, out_dir):
    result = nlu(
        "cluster", "--model", st_model, "--input", data_dir / "corpus.jsonl", "--k", "3", "--plot", out_dir / "map.png"
    )
    check_ok(result)
    assert (out_dir / "map.png").read_bytes()[:8] == PNG_MAGIC
    assert listing(out_dir) == ["map.png"]


def test_seed_is_repeatable(nlu, vectors_npy):
    first = nlu("cluster", "--embeddings", vectors_npy, "--k", "auto", "--seed", "11")
    second = nlu("cluster", "--embeddings", vectors_npy, "--k", "auto", "--seed", "11")
    check_ok(first)
    check_ok(second)
    assert jsonl(first.stdout) == jsonl(second.stdout)


def test_texts_as_arguments(nlu, st_model):
    texts = ["good film", "great movie", "bad plot", "awful story", "the river bank", "money in the bank"]
    result = nlu("cluster", "--model", st_model, "--k", "2", *texts)
    check_ok(result)
    records = jsonl(result.stdout)
    assert [r["text"] for r in records] == texts and [r["id"] for r in records] == list(range(6))
    assert {r["cluster"] for r in records} == {0, 1}


@pytest.mark.parametrize("k", ["0", "1", "-3", "three", "2.5", "100"])
def test_bad_k(nlu, vectors_npy, out_dir, k):
    result = nlu("cluster", "--embeddings", vectors_npy, "--k", k, "-o", out_dir / "c.jsonl")
    check_error(result, 2)
    assert listing(out_dir) == []


def test_bad_combinations(nlu, st_model, vectors_npy, data_dir, tmp_path):
    check_error(nlu("cluster", "--embeddings", vectors_npy, "--k", "3", "--threshold", "0.5"), 2)  # kmeans
    check_error(nlu("cluster", "--embeddings", vectors_npy, "--method", "spectral"), 2)
    short = tmp_path / "short.txt"
    short.write_text("good film\nbad film\n", encoding="utf-8")
    check_error(nlu("cluster", "--embeddings", vectors_npy, "--input", short, "--k", "3"), 2)
    check_error(nlu("cluster", "--embeddings", tmp_path / "missing.npy", "--k", "3"), 2)
    check_error(nlu("cluster", "--model", st_model, "--k", "3"), 2)  # no input at all


def test_pickled_embeddings_are_refused(nlu, tmp_path):
    path = tmp_path / "objects.npy"
    np.save(path, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    check_error(nlu("cluster", "--embeddings", path, "--k", "2"), 2)


def test_threshold_is_a_similarity_for_every_method(nlu, vectors_npy):
    """--threshold means a cosine similarity, higher = tighter, for agglomerative as for community."""
    counts = []
    for threshold in ("0.9", "0.99"):
        result = nlu("cluster", "--embeddings", vectors_npy, "--method", "agglomerative", "--threshold", threshold)
        check_ok(result)
        counts.append(len({r["cluster"] for r in jsonl(result.stdout)}))
    assert counts[0] < counts[1]
    message = check_error(
        nlu("cluster", "--embeddings", vectors_npy, "--method", "agglomerative", "--threshold", "1.5"), 2
    )
    assert "--threshold is a cosine similarity" in message and "similarity -0.5" in message
    help_text = nlu("cluster", "--help", env={"COLUMNS": "400", "TERMINAL_WIDTH": "400"}).stdout
    assert "Cosine similarity in [-1, 1], higher = tighter clusters" in help_text
