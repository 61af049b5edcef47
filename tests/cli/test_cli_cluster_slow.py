"""`nlu cluster` on the embedded all-MiniLM-L6-v2: the README's examples run as written and give
sensible clusters of its sample, data/corpus.jsonl (34 texts, 11 topics of 2-4 texts)."""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path

import numpy as np
import pytest
from cli_checks import check_ok, jsonl

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def readme_commands(prefix: str) -> list[list[str]]:
    """The command lines of README's embeddings/clustering section that start with ``prefix``."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Embeddings, semantic search and clustering", 1)[1].split("\n## ", 1)[0]
    lines = [line.split("  #", 1)[0].strip() for line in section.splitlines()]
    return [shlex.split(line)[1:] for line in lines if line.startswith(prefix)]


def pair_precision(labels: np.ndarray, truth: np.ndarray) -> float:
    """Of the pairs of texts put in one cluster (noise apart), the share that share a ``truth`` label."""
    together = (labels[:, None] == labels[None, :]) & (labels >= 0)[:, None]
    np.fill_diagonal(together, False)
    return float((truth[:, None] == truth[None, :])[together].mean())


@pytest.fixture
def sample(tmp_path, monkeypatch, data_dir, nlu) -> Path:
    """A working folder with data/corpus.jsonl and vectors.npy (made by README's command), as README expects."""
    (tmp_path / "data").mkdir()
    shutil.copy(data_dir / "corpus.jsonl", tmp_path / "data" / "corpus.jsonl")
    monkeypatch.chdir(tmp_path)
    embed = readme_commands("nlu embed --input data/corpus.jsonl -o vectors.npy")
    assert embed, "README no longer makes vectors.npy"
    check_ok(nlu(*embed[0]))
    return tmp_path


def test_readme_cluster_examples_give_sensible_clusters(nlu, sample):
    commands = readme_commands("nlu cluster")
    assert len(commands) >= 3 and any("community" in c for c in commands)
    rows = [json.loads(line) for line in (sample / "data" / "corpus.jsonl").read_text(encoding="utf-8").splitlines()]
    topics = np.array([r["topic"] for r in rows])
    groups = np.array([r["id"].split("-")[0] for r in rows])  # faq / news / recipe / travel / tech
    for args in commands:
        result = nlu(*args)
        check_ok(result)
        labels = np.array([r["cluster"] for r in jsonl(result.stdout)])
        assert len(labels) == 34, args
        sizes = np.bincount(labels[labels >= 0])
        # Several clusters, none of them a lone text, and a fair part of the texts clustered
        # (the threshold 0.6 example put all 34 in noise).
        assert len(sizes) >= 3 and sizes.min() >= 2, (args, sizes)
        assert (labels >= 0).sum() >= 10, args
        # Texts put together share a topic far more often than chance (0.07 by topic, 0.25 by source).
        assert pair_precision(labels, topics) >= 0.2, args
        assert pair_precision(labels, groups) >= 0.5, args
    assert (sample / "clusters.png").is_file() and json.loads((sample / "clusters.json").read_text(encoding="utf-8"))


def test_community_example_finds_clean_groups(nlu, sample):
    (args,) = [c for c in readme_commands("nlu cluster") if "community" in c]
    result = nlu(*args)
    check_ok(result)
    records = jsonl(result.stdout)
    clusters = {r["cluster"] for r in records} - {-1}
    assert len(clusters) >= 3
    for c in clusters:
        sources = {r["id"].split("-")[0] for r in records if r["cluster"] == c}
        assert len(sources) == 1, sources  # orders and shipping, account, recipes: never mixed


def test_auto_k_has_no_singletons_on_the_sample(nlu, sample):
    for seed in ("0", "1", "2"):
        result = nlu("cluster", "--input", "data/corpus.jsonl", "--k", "auto", "--seed", seed)
        check_ok(result)
        sizes = np.bincount([r["cluster"] for r in jsonl(result.stdout)])
        # 34 texts of 11 loosely separated topics; the plain silhouette picked 16 clusters, 6 of one text.
        assert 4 <= len(sizes) <= 12 and sizes.min() >= 2, sizes
