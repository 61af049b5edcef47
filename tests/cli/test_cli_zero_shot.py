"""`nlu classify --labels`: one label is scored on its own; the CLI's template default is the library's."""

from __future__ import annotations

import pytest
from cli_checks import check_error, check_ok, jsonl

from nlu_toolkit import classify

TEXT = "The striker scored twice"


def test_one_label_is_scored_on_its_own(nlu, st_model):
    result = nlu("classify", TEXT, "--model", st_model, "--labels", "sports", "--threshold", "0")
    check_ok(result)
    (record,) = jsonl(result.stdout)
    assert record["label"] == "sports" and record["score"] < 1.0
    (both,) = classify(TEXT, model=st_model, labels="sports,politics", multi_label=True, threshold=0.0)
    assert record["score"] == pytest.approx(next(x.score for x in both.labels if x.label == "sports"), abs=1e-5)


def test_one_label_with_single_label_is_a_usage_error(nlu, st_model):
    result = nlu("classify", TEXT, "--model", st_model, "--labels", "sports", "--single-label")
    check_error(result, 2, contains="--labels has one label ('sports')")
    assert "give two or more --labels" in result.stderr


def test_the_cli_template_default_is_the_librarys(nlu, st_model):
    result = nlu("classify", TEXT, "--model", st_model, "--labels", "sports,politics,food")
    check_ok(result)
    (record,) = jsonl(result.stdout)
    (expected,) = classify(TEXT, model=st_model, labels="sports,politics,food")
    assert [(x["label"], pytest.approx(x["score"], abs=1e-5)) for x in record["labels"]] == [
        (x.label, x.score) for x in expected.labels
    ]
