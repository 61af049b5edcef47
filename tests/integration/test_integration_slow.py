"""Slow library tests on the real embedded all-MiniLM-L6-v2 and ../shared/data."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from nlu_toolkit import Classifier, classify
from nlu_toolkit.models.embedded import EMBEDDED_NAME, EMBEDDED_SHA256
from nlu_toolkit.models.resolver import load_model, locate

pytestmark = pytest.mark.slow


def test_embedded_resolution(offline_env):
    info = locate(None, "zero-shot")
    assert info.source == "embedded" and info.name == EMBEDDED_NAME and info.sha256 == EMBEDDED_SHA256
    assert Path(info.path).is_relative_to(offline_env)  # extracted into $NLU_CACHE
    for alias in ("embedded", "all-MiniLM-L6-v2", EMBEDDED_NAME):
        assert locate(alias, "sentence-embedding").path == info.path
    loaded = load_model(None, "zero-shot", device="cpu")
    assert loaded.info.kind == "sentence-transformers"
    assert load_model(None, "zero-shot", device="cpu") is loaded


def test_zero_shot_defaults_to_the_embedded_model():
    clf = Classifier(labels="sports,food")
    assert clf.model_info.source == "embedded"
    results = list(clf.predict(["The striker scored twice", "A quick pasta recipe"]))
    assert [r.label for r in results] == ["sports", "food"]


def test_embedded_long_text_window_and_truncate():
    text = "The striker scored twice and the fans sang all night. " * 60  # ~700 tokens, over MiniLM's 256
    (t,) = classify(text, labels="sports,food")
    (w,) = classify(text, labels="sports,food", long="window")
    assert t.truncated is True and w.truncated is False
    assert t.label == w.label == "sports"


def test_sst2_zero_shot_accuracy(shared_data):
    """all-MiniLM-L6-v2 zero-shot reaches 0.67 on the first 200 dev sentences (0.69 on all 872)."""
    path = shared_data / "sst2" / "dev.tsv"
    if not path.is_file():
        pytest.skip("../shared/data/sst2/dev.tsv is absent")
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[:200]
    assert len(rows) == 200
    results = classify(
        [r["sentence"] for r in rows], labels="positive,negative", hypothesis_template="This review is {}."
    )
    gold = ["positive" if r["label"] == "1" else "negative" for r in rows]
    accuracy = sum(r.label == g for r, g in zip(results, gold, strict=True)) / len(gold)
    assert accuracy > 0.6
