"""`classify` / `Classifier` on the tiny models: supervised, multi-label, long texts, NLI and embedding zero-shot."""

from __future__ import annotations

import numpy as np
import pytest

from nlu_toolkit import Classifier, classify
from nlu_toolkit.errors import UsageError
from nlu_toolkit.tasks.classify import COSINE_THRESHOLD, DEFAULT_TEMPLATE

#: About 140 tokens: over the tiny models' 64-token limit.
LONG_TEXT = "the movie was good and the actors were great but the plot was boring " * 10
TEXTS = ["I loved this film", "Dull and far too long", "the plot was boring", LONG_TEXT]


def test_plain_classification(cls_model):
    results = classify(TEXTS, model=cls_model)
    assert [r.id for r in results] == [0, 1, 2, 3]
    assert [r.text for r in results] == TEXTS
    for r in results:
        assert {x.label for x in r.labels} == {"NEGATIVE", "POSITIVE"}
        assert r.label == r.labels[0].label and r.score == r.labels[0].score
        assert sum(x.score for x in r.labels) == pytest.approx(1.0, abs=1e-6)
        assert r.labels[0].score >= r.labels[1].score
        d = r.to_dict()
        assert set(d) == {"id", "text", "label", "score", "labels", "truncated"}


def test_single_string_input(cls_model):
    (result,) = classify("I loved this film", model=cls_model)
    assert result.id == 0 and result.text == "I loved this film"


def test_top_k(multilabel_model):
    for k in (1, 2, 3):
        results = classify(TEXTS, model=multilabel_model, multi_label=False, top_k=k)
        assert all(len(r.labels) == k for r in results)
    assert all(len(r.labels) == 3 for r in classify(TEXTS, model=multilabel_model, top_k=10, threshold=0.0))


def test_multi_label_follows_problem_type_and_threshold(multilabel_model):
    clf = Classifier(multilabel_model, threshold=0.0)
    assert clf.multi_label is True and clf.threshold == 0.0
    full = list(clf.predict(TEXTS))
    assert all(len(r.labels) == 3 for r in full)
    # sigmoid scores are independent: they do not sum to 1
    assert any(abs(sum(x.score for x in r.labels) - 1.0) > 1e-3 for r in full)
    for threshold in (0.3, 0.5, 0.9):
        for r_full, r in zip(full, classify(TEXTS, model=multilabel_model, threshold=threshold), strict=True):
            expected = [x.label for x in r_full.labels if x.score >= threshold]
            assert [x.label for x in r.labels] == expected
            assert r.label == (expected[0] if expected else None)
            if not expected:
                assert r.score is None
    single = classify(TEXTS, model=multilabel_model, multi_label=False)
    assert all(sum(x.score for x in r.labels) == pytest.approx(1.0, abs=1e-6) for r in single)


def test_multi_label_forced_on_a_single_label_model(cls_model):
    (r,) = classify("good film", model=cls_model, multi_label=True, threshold=0.0)
    assert len(r.labels) == 2 and all(0.0 < x.score < 1.0 for x in r.labels)
    assert sum(x.score for x in r.labels) != pytest.approx(1.0, abs=1e-4)


def test_long_truncate_vs_window(cls_model):
    truncated = classify(TEXTS, model=cls_model, long="truncate")
    windowed = classify(TEXTS, model=cls_model, long="window")
    assert [r.truncated for r in truncated] == [False, False, False, True]
    assert [r.truncated for r in windowed] == [False, False, False, False]
    assert [r.text for r in windowed] == TEXTS
    for t, w in zip(truncated[:3], windowed[:3], strict=True):  # short texts: one window, same scores
        assert w.score == pytest.approx(t.score, abs=1e-6)
    assert windowed[3].score != pytest.approx(truncated[3].score, abs=1e-9)  # pooled over several windows
    assert sum(x.score for x in windowed[3].labels) == pytest.approx(1.0, abs=1e-6)


def test_window_pooling_over_a_batch_of_long_texts(cls_model):
    texts = [LONG_TEXT * (1 + i % 3) for i in range(7)] + ["short"]
    results = classify(texts, model=cls_model, long="window", batch_size=3)
    assert [r.text for r in results] == texts
    assert not any(r.truncated for r in results)
    # a text scores the same alone and inside a batch
    alone = classify([texts[4]], model=cls_model, long="window")[0]
    assert alone.score == pytest.approx(results[4].score, abs=1e-5)


def test_order_kept_over_more_than_a_window_with_passthrough(cls_model):
    from nlu_toolkit.engine.batching import WINDOW

    n = WINDOW + 100
    words = ["good", "bad film", "the plot was boring and the actors awful", "fun", LONG_TEXT]
    records = [{"id": f"r{i}", "text": f"{words[i % 5]} {i}", "source": i % 7, "meta": {"i": i}} for i in range(n)]
    results = list(Classifier(cls_model, batch_size=128).predict(iter(records)))
    assert [r.id for r in results] == [r["id"] for r in records]
    assert [r.text for r in results] == [r["text"] for r in records]
    assert [r.extra for r in results] == [{"source": r["source"], "meta": r["meta"]} for r in records]
    assert results[5].to_dict()["source"] == 5
    # scores do not depend on the neighbours a record was batched with
    again = classify([records[n - 1]["text"], records[3]["text"]], model=cls_model)
    assert again[0].score == pytest.approx(results[n - 1].score, abs=1e-5)
    assert again[1].score == pytest.approx(results[3].score, abs=1e-5)


def test_records_get_an_id_when_missing(cls_model):
    results = classify([{"text": "good"}, {"text": "bad", "id": "x"}], model=cls_model)
    assert [r.id for r in results] == [0, "x"]


def test_nli_zero_shot_single_label(nli_model):
    clf = Classifier(nli_model, labels="sports, politics ,food")
    assert clf.labels == ["sports", "politics", "food"]
    assert clf.multi_label is False
    results = list(clf.predict(TEXTS))
    for r in results:
        assert {x.label for x in r.labels} == {"sports", "politics", "food"}
        assert sum(x.score for x in r.labels) == pytest.approx(1.0, abs=1e-6)
    assert [r.truncated for r in results] == [False, False, False, True]
    assert not any(r.truncated for r in classify(TEXTS, model=nli_model, labels=["a", "b"], long="window"))


def test_nli_zero_shot_multi_label_scores_are_independent(nli_model):
    def scores(labels):
        (r,) = classify("The striker scored twice", model=nli_model, labels=labels, multi_label=True, threshold=0.0)
        return {x.label: x.score for x in r.labels}

    a, b = scores(["sports", "politics"]), scores(["sports", "food", "travel"])
    assert a["sports"] == pytest.approx(b["sports"], abs=1e-6)
    assert all(0.0 <= s <= 1.0 for s in [*a.values(), *b.values()])
    # single-label scores are relative to the other candidates
    single = [
        classify("The striker scored twice", model=nli_model, labels=x)[0]
        for x in (["sports", "politics"], ["sports", "food", "travel"])
    ]
    s1, s2 = ({x.label: x.score for x in r.labels}["sports"] for r in single)
    assert s1 != pytest.approx(s2, abs=1e-6)


def test_nli_hypothesis_template_changes_scores(nli_model):
    a = classify("The striker scored", model=nli_model, labels="sports,politics")[0]
    b = classify("The striker scored", model=nli_model, labels="sports,politics", hypothesis_template="Topic: {}")[0]
    assert [x.score for x in a.labels] != pytest.approx([x.score for x in b.labels], abs=1e-9)


def test_embedding_zero_shot(st_model):
    clf = Classifier(st_model, labels=["sports", "politics", "food"])
    assert clf.model_info.kind == "sentence-transformers"
    assert clf.multi_label is False
    results = list(clf.predict(TEXTS))
    for r in results:
        assert sum(x.score for x in r.labels) == pytest.approx(1.0, abs=1e-6)
    assert [r.truncated for r in results] == [False, False, False, True]


def test_embedding_zero_shot_multi_label_is_cosine(st_model):
    clf = Classifier(st_model, labels=["sports", "politics"], multi_label=True, threshold=0.0)
    assert clf.threshold == 0.0
    assert Classifier(st_model, labels=["sports"], multi_label=True).threshold == COSINE_THRESHOLD
    (r,) = clf.predict(["The striker scored"])
    model = clf._scorer.loaded.model
    text_vec = model.encode(["The striker scored"], normalize_embeddings=True)[0]
    hypotheses = [DEFAULT_TEMPLATE.format("sports"), DEFAULT_TEMPLATE.format("politics")]
    label_vecs = model.encode(hypotheses, normalize_embeddings=True)
    expected = np.clip(label_vecs @ text_vec, 0.0, 1.0)
    got = {x.label: x.score for x in r.labels}
    assert got["sports"] == pytest.approx(float(expected[0]), abs=1e-4)
    assert got["politics"] == pytest.approx(float(expected[1]), abs=1e-4)


def test_embedding_zero_shot_encodes_labels_once(st_model, monkeypatch):
    clf = Classifier(st_model, labels=["sports", "politics", "food"])
    embedder = clf._scorer.embedder
    seen: list[int] = []
    real = embedder.encode

    def spy(texts):
        seen.append(len(texts))
        return real(texts)

    monkeypatch.setattr(embedder, "encode", spy)
    list(clf.predict(["a", "b"]))
    list(clf.predict(["c"]))
    assert seen == [2, 1]  # texts only: the label vectors were computed once, at construction


def test_non_nli_model_with_labels_is_a_usage_error(cls_model):
    with pytest.raises(UsageError, match="not an NLI model") as err:
        Classifier(cls_model, labels="a,b")
    assert err.value.hint and "leave model out" in err.value.hint and err.value.params == ["model"]


def test_model_without_a_classification_head_is_a_usage_error(st_model):
    with pytest.raises(UsageError, match="no classification head"):
        Classifier(st_model)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"long": "middle"},
        {"batch_size": 0},
        {"top_k": 0},
        {"threshold": 1.5},
        {"labels": " , "},
        {"labels": "a,b,a"},
        {"labels": "a,b", "hypothesis_template": "no placeholder"},
        {"max_length": 4},
    ],
)
def test_bad_options(cls_model, nli_model, kwargs):
    model = nli_model if "labels" in kwargs else cls_model
    with pytest.raises(UsageError):
        classify(["good"], model=model, **kwargs)


def test_max_length_lowers_the_limit(cls_model):
    text = "the movie was good and the actors were great"
    assert classify(text, model=cls_model)[0].truncated is False
    assert classify(text, model=cls_model, max_length=8)[0].truncated is True


def test_model_info(cls_model):
    clf = Classifier(cls_model)
    info = clf.model_info
    assert info.source == "local" and info.task == "text-classification"
    assert info.device == "cpu" or info.device.startswith(("cuda", "mps"))
    assert info.dtype == "float32" and info.kind == "transformers"
    assert cls_model in info.describe() or "local" in info.describe()


@pytest.mark.parametrize(("long", "max_length"), [("truncate", 20), ("window", 28)])
def test_nli_hypothesis_longer_than_the_window(nli_model, long, max_length):
    from nlu_toolkit.errors import NluError

    with pytest.raises(NluError):
        classify(
            LONG_TEXT,
            model=nli_model,
            labels="sports,food",
            hypothesis_template="This text is about {}.",
            max_length=max_length,
            long=long,
        )


@pytest.mark.parametrize("text", [None, 5])
def test_non_string_text_in_a_record_is_an_input_error(cls_model, text):
    from nlu_toolkit.errors import InputError

    with pytest.raises(InputError):
        classify([{"text": text}], model=cls_model)
