"""Zero-shot with one label: scored on its own (as in multi-label mode), never a softmax over one label."""

from __future__ import annotations

import pytest

from nlu_toolkit import Classifier, classify
from nlu_toolkit.errors import UsageError
from nlu_toolkit.tasks.classify import COSINE_THRESHOLD, THRESHOLD

TEXT = "The striker scored twice"


def _scores(records) -> dict[str, float]:
    (r,) = records
    return {x.label: x.score for x in r.labels}


def test_one_embedding_label_gets_its_cosine_not_one(st_model):
    clf = Classifier(st_model, labels="sports", threshold=0.0)
    assert clf.multi_label is True and clf.threshold == 0.0
    assert Classifier(st_model, labels="sports").threshold == COSINE_THRESHOLD
    alone = _scores(clf.predict([TEXT]))["sports"]
    assert alone < 1.0
    # The same score as the label gets in multi-label mode beside other labels: independent of them.
    among = _scores(classify(TEXT, model=st_model, labels="sports,politics", multi_label=True, threshold=0.0))
    assert alone == pytest.approx(among["sports"], abs=1e-6)


def test_one_nli_label_is_entailment_against_contradiction(nli_model):
    clf = Classifier(nli_model, labels=["sports"], threshold=0.0)
    assert clf.multi_label is True
    assert Classifier(nli_model, labels=["sports"]).threshold == THRESHOLD
    alone = _scores(clf.predict([TEXT]))["sports"]
    assert 0.0 < alone < 1.0
    among = _scores(classify(TEXT, model=nli_model, labels="sports,food", multi_label=True, threshold=0.0))
    assert alone == pytest.approx(among["sports"], abs=1e-6)


def test_one_label_below_the_threshold_gives_no_label(st_model):
    (r,) = classify(TEXT, model=st_model, labels="sports", threshold=1.0)
    assert r.label is None and r.score is None and r.labels == []


def test_one_label_with_single_label_scores_is_refused(st_model):
    with pytest.raises(UsageError) as e:
        Classifier(st_model, labels="sports", multi_label=False)
    assert e.value.template.startswith("{=labels} has one label ('sports')")
    assert "always gets 1.0" in e.value.template
    assert "two or more {=labels}" in e.value.hint_template


def test_nli_without_contradiction_scores_a_lone_label_on_its_own(tmp_path):
    from nlu_toolkit.models.testing import build_model

    folder = build_model(tmp_path / "rte", "sequence", ["entailment", "not_entailment"])
    alone = _scores(classify(TEXT, model=str(folder), labels="sports", threshold=0.0))["sports"]
    assert 0.0 < alone < 1.0
    among = _scores(classify(TEXT, model=str(folder), labels="sports,food", multi_label=True, threshold=0.0))
    assert alone == pytest.approx(among["sports"], abs=1e-6)
