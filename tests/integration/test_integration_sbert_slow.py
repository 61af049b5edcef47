"""Slow: `nlu embed` on the embedded all-MiniLM-L6-v2 against sentence-transformers itself, on
STS-B dev (../shared/data), and semantic search over data/corpus.jsonl."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from nlu_toolkit.cli.app import app

pytestmark = pytest.mark.slow


def run(*args: object):
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, f"exit {result.exit_code}\nstderr: {result.stderr}\n{result.exception!r}"
    return result


@pytest.fixture(scope="module")
def sts_dev(shared_data) -> list[tuple[float, str, str]]:
    """(gold score, sentence 1, sentence 2) for every STS-B dev pair."""
    path = shared_data / "stsbenchmark" / "sts-dev.csv"
    if not path.is_file():
        pytest.skip("../shared/data/stsbenchmark/sts-dev.csv is absent")
    with path.open(encoding="utf-8", newline="") as f:
        # Tab-separated, unquoted; some rows carry extra source fields after the two sentences.
        rows = [(float(r[4]), r[5], r[6]) for r in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)]
    assert len(rows) == 1500
    return rows


@pytest.fixture(scope="module")
def sts_sentences(sts_dev) -> list[str]:
    """Each distinct sentence once, in order of first appearance."""
    return list(dict.fromkeys(s for _, a, b in sts_dev for s in (a, b)))


@pytest.fixture(scope="module")
def cli_vectors(sts_sentences, tmp_path_factory) -> np.ndarray:
    """``nlu embed --input sentences.jsonl -o X.npy`` with the default (embedded) model."""
    folder = tmp_path_factory.mktemp("sts")
    src = folder / "sentences.jsonl"
    src.write_text(
        "".join(json.dumps({"id": i, "text": s}) + "\n" for i, s in enumerate(sts_sentences)), encoding="utf-8"
    )
    run("embed", "--input", src, "-o", folder / "x.npy")
    return np.load(folder / "x.npy", allow_pickle=False)


@pytest.fixture(scope="module")
def raw_vectors(sts_sentences) -> np.ndarray:
    from sentence_transformers import SentenceTransformer

    from nlu_toolkit.models.embedded import embedded_path

    model = SentenceTransformer(str(embedded_path()), device="cpu")
    return model.encode(sts_sentences, batch_size=64, convert_to_numpy=True, show_progress_bar=False)


def spearman(pairs, sentences: list[str], vectors: np.ndarray) -> float:
    from scipy.stats import spearmanr

    row = {s: i for i, s in enumerate(sentences)}
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    cosine = [float(unit[row[a]] @ unit[row[b]]) for _, a, b in pairs]
    return float(spearmanr([g for g, _, _ in pairs], cosine).statistic)


def test_sts_dev_spearman_equals_sentence_transformers(sts_dev, sts_sentences, cli_vectors, raw_vectors):
    assert cli_vectors.shape == raw_vectors.shape == (len(sts_sentences), 384)
    assert cli_vectors.dtype == np.float32
    np.testing.assert_allclose(cli_vectors, raw_vectors, atol=1e-4)
    ours = spearman(sts_dev, sts_sentences, cli_vectors)
    theirs = spearman(sts_dev, sts_sentences, raw_vectors)
    print(f"STS-B dev Spearman: nlu embed {ours:.5f}, SentenceTransformer.encode {theirs:.5f}")
    assert ours == pytest.approx(theirs, abs=1e-4)
    assert 0.85 < ours < 0.89  # all-MiniLM-L6-v2's published dev score is about 0.867


def test_search_finds_the_password_faq(data_dir: Path):
    result = run("embed", "--search", "I forgot my password", "--corpus", data_dir / "corpus.jsonl", "-k", "3")
    (record,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert record["hits"][0]["id"] == "faq-01"
    assert record["hits"][0]["topic"] == "support"
    assert record["hits"][0]["score"] > record["hits"][1]["score"]
