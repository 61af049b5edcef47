"""Unit tests for nlu_toolkit.core.metrics: hand-computed cases and agreement with scikit-learn, seqeval and scipy."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from scipy import stats

from nlu_toolkit.core.metrics import (
    METRIC_NAMES,
    Metric,
    answer_f1,
    classification_metrics,
    load_metric,
    multilabel_metrics,
    ner_metrics,
    normalize_answer,
    retrieval_metrics,
    squad_metrics,
    sts_metrics,
)
from nlu_toolkit.errors import OutputError, UsageError
from nlu_toolkit.io.plots import plot_confusion_matrix

approx = pytest.approx


def assert_json(result: dict) -> None:
    """Plain Python values only: strict JSON (no NaN) round-trips them unchanged."""
    assert json.loads(json.dumps(result, allow_nan=False)) == result


def random_tags(rng: np.random.Generator, n_sentences: int, types=("PER", "LOC", "ORG")) -> list[list[str]]:
    """Random IOB tags, including I- tags after O or after another type (seqeval's lenient spans)."""
    choices = ["O", "O", "O"] + [f"{p}-{t}" for t in types for p in ("B", "I")]
    return [[choices[i] for i in rng.integers(0, len(choices), rng.integers(0, 12))] for _ in range(n_sentences)]


def perturb(rng: np.random.Generator, tags: list[list[str]], types=("PER", "LOC", "ORG")) -> list[list[str]]:
    choices = ["O"] + [f"{p}-{t}" for t in types for p in ("B", "I")]
    return [[choices[rng.integers(len(choices))] if rng.random() < 0.3 else t for t in s] for s in tags]


# ---------------------------------------------------------------- classification


def test_classification_hand_computed_three_classes_and_an_absent_label():
    # rows = true: a -> [2, 1, 0], b -> [0, 1, 1], c -> [1, 0, 3]; "d" appears nowhere
    y_true = [0, 0, 0, 1, 1, 2, 2, 2, 2]
    y_pred = [0, 1, 0, 1, 2, 2, 2, 0, 2]
    r = classification_metrics(y_true, y_pred, ["a", "b", "c", "d"])
    assert r["confusion"] == [[2, 1, 0, 0], [0, 1, 1, 0], [1, 0, 3, 0], [0, 0, 0, 0]]
    assert r["accuracy"] == approx(6 / 9)
    assert r["per_class"]["a"] == approx({"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3, "support": 3})
    assert r["per_class"]["b"] == approx({"precision": 1 / 2, "recall": 1 / 2, "f1": 1 / 2, "support": 2})
    assert r["per_class"]["c"] == approx({"precision": 3 / 4, "recall": 3 / 4, "f1": 3 / 4, "support": 4})
    assert r["per_class"]["d"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert r["macro_f1"] == approx((2 / 3 + 1 / 2 + 3 / 4 + 0) / 4)  # the absent label counts as F1 0
    assert r["weighted_f1"] == approx((3 * 2 / 3 + 2 * 1 / 2 + 4 * 3 / 4) / 9)
    # t_sum = p_sum = [3, 2, 4, 0]: (6*9 - 29) / sqrt((81 - 29) * (81 - 29))
    assert r["mcc"] == approx(25 / 52)
    assert r["n"] == 9
    assert r["labels"] == ["a", "b", "c", "d"]
    assert list(r["per_class"]) == ["a", "b", "c", "d"]
    assert_json(r)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_classification_agrees_with_sklearn(seed):
    from sklearn import metrics as skm

    rng = np.random.default_rng(seed)
    n_labels = 6
    y_true = rng.integers(0, n_labels - 1, 300)  # the last label never true...
    y_pred = np.where(rng.random(300) < 0.6, y_true, rng.integers(0, n_labels, 300))  # ...but sometimes predicted
    labels = [f"L{i}" for i in range(n_labels)]
    r = classification_metrics(y_true.tolist(), y_pred.tolist(), labels)
    ids = list(range(n_labels))
    assert r["accuracy"] == approx(skm.accuracy_score(y_true, y_pred))
    assert r["macro_f1"] == approx(skm.f1_score(y_true, y_pred, labels=ids, average="macro", zero_division=0))
    assert r["weighted_f1"] == approx(skm.f1_score(y_true, y_pred, labels=ids, average="weighted", zero_division=0))
    assert r["mcc"] == approx(skm.matthews_corrcoef(y_true, y_pred))
    assert r["confusion"] == skm.confusion_matrix(y_true, y_pred, labels=ids).tolist()
    p, rec, f1, sup = skm.precision_recall_fscore_support(y_true, y_pred, labels=ids, zero_division=0)
    for i, label in enumerate(labels):
        assert r["per_class"][label] == approx({"precision": p[i], "recall": rec[i], "f1": f1[i], "support": sup[i]})


def test_classification_accepts_numpy_and_single_class_mcc_is_zero():
    r = classification_metrics(np.array([1, 1, 1]), np.array([1, 1, 1]), ["neg", "pos"])
    assert r["accuracy"] == 1.0
    assert r["mcc"] == 0.0  # undefined with one class; scikit-learn reports 0
    assert isinstance(r["accuracy"], float)
    assert isinstance(r["n"], int)


@pytest.mark.parametrize(
    ("y_true", "y_pred", "labels", "match"),
    [
        ([], [], ["a", "b"], "no examples"),
        ([0, 1], [0], ["a", "b"], "y_pred has 1"),
        ([0, 2], [0, 1], ["a", "b"], "label id 2"),
        ([0, -1], [0, 1], ["a", "b"], "label id -1"),
        ([0.0, 1.0], [0, 1], ["a", "b"], "integer"),
        ([0, 1], [0, 1], [], "labels is empty"),
        ([0, 1], [0, 1], ["a", "a"], "duplicate"),
    ],
)
def test_classification_errors(y_true, y_pred, labels, match):
    with pytest.raises(UsageError, match=match):
        classification_metrics(y_true, y_pred, labels)


# ---------------------------------------------------------------- multi-label


def test_multilabel_hand_computed():
    y_true = [[1, 0, 1], [0, 1, 0], [1, 1, 0]]
    y_pred = [[1, 0, 0], [0, 1, 0], [1, 0, 1]]
    r = multilabel_metrics(y_true, y_pred, ["x", "y", "z"])
    assert r["accuracy"] == approx(1 / 3)  # only the second row is entirely right
    assert r["hamming_loss"] == approx(3 / 9)
    assert r["per_class"]["x"] == approx({"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 2})
    assert r["per_class"]["y"] == approx({"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2})
    assert r["per_class"]["z"] == approx({"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1})
    assert r["micro_f1"] == approx(2 * 3 / (2 * 3 + 1 + 2))  # tp 3, fp 1, fn 2
    assert r["macro_f1"] == approx((1 + 2 / 3 + 0) / 3)
    assert r["n"] == 3
    assert r["labels"] == ["x", "y", "z"]
    assert_json(r)


def test_multilabel_agrees_with_sklearn():
    from sklearn import metrics as skm

    rng = np.random.default_rng(3)
    y_true = (rng.random((200, 5)) < 0.3).astype(int)
    y_true[:, 4] = 0  # a label never true
    y_pred = np.where(rng.random((200, 5)) < 0.8, y_true, 1 - y_true)
    r = multilabel_metrics(y_true, y_pred.astype(bool), list("abcde"))
    assert r["accuracy"] == approx(skm.accuracy_score(y_true, y_pred))
    assert r["micro_f1"] == approx(skm.f1_score(y_true, y_pred, average="micro", zero_division=0))
    assert r["macro_f1"] == approx(skm.f1_score(y_true, y_pred, average="macro", zero_division=0))
    assert r["hamming_loss"] == approx(skm.hamming_loss(y_true, y_pred))
    p, rec, f1, sup = skm.precision_recall_fscore_support(y_true, y_pred, zero_division=0)
    for i, label in enumerate("abcde"):
        assert r["per_class"][label] == approx({"precision": p[i], "recall": rec[i], "f1": f1[i], "support": sup[i]})


@pytest.mark.parametrize(
    ("y_true", "y_pred", "match"),
    [
        ([[1, 0]], [[1, 0, 0]], "shape"),
        ([[1, 0, 2]], [[1, 0, 0]], "only 0 and 1"),
        (np.zeros((0, 3)), np.zeros((0, 3)), "no examples"),
        ([[1, 0, 0]], [[1, 0, 0], [0, 0, 0]], "shape"),
    ],
)
def test_multilabel_errors(y_true, y_pred, match):
    with pytest.raises(UsageError, match=match):
        multilabel_metrics(y_true, y_pred, ["x", "y", "z"])


# ---------------------------------------------------------------- NER


def test_ner_boundary_error_is_one_fp_and_one_fn():
    true = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "B-ORG"]]
    pred = [["B-PER", "O", "O", "B-LOC"], ["O", "O"]]
    r = ner_metrics(true, pred)
    # true: PER(0-1), LOC(3), ORG(1 of sentence 2); predicted: PER(0-0), LOC(3)
    assert (r["tp"], r["fp"], r["fn"]) == (1, 1, 2)
    assert r["precision"] == approx(1 / 2)
    assert r["recall"] == approx(1 / 3)
    assert r["f1"] == approx(2 / (2 + 1 + 2))
    assert r["accuracy"] == approx(4 / 6)
    assert r["n_sentences"] == 2
    assert r["per_type"]["PER"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1, "tp": 0, "fp": 1, "fn": 1}
    assert r["per_type"]["LOC"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1, "tp": 1, "fp": 0, "fn": 0}
    assert r["per_type"]["ORG"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1, "tp": 0, "fp": 0, "fn": 1}
    assert list(r["per_type"]) == ["LOC", "ORG", "PER"]
    assert_json(r)


def test_ner_entities_do_not_cross_sentences_and_lenient_spans_count():
    # Default (conlleval) mode: an I- tag after O starts an entity, so these match.
    r = ner_metrics([["O", "I-PER"]], [["O", "B-PER"]])
    assert (r["tp"], r["fp"], r["fn"]) == (1, 0, 0)
    # The same entity at the same offsets in two different sentences is two entities.
    r = ner_metrics([["B-PER"], ["O"]], [["O"], ["B-PER"]])
    assert (r["tp"], r["fp"], r["fn"]) == (0, 1, 1)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_ner_agrees_with_seqeval(seed):
    from seqeval import metrics as sq

    rng = np.random.default_rng(seed)
    true = random_tags(rng, 60)
    pred = perturb(rng, true)
    r = ner_metrics(true, pred)
    assert r["precision"] == approx(sq.precision_score(true, pred, zero_division=0))
    assert r["recall"] == approx(sq.recall_score(true, pred, zero_division=0))
    assert r["f1"] == approx(sq.f1_score(true, pred, zero_division=0))
    assert r["accuracy"] == approx(sq.accuracy_score(true, pred))
    report = sq.classification_report(true, pred, output_dict=True, zero_division=0)
    for typ, s in r["per_type"].items():
        theirs = report[typ]
        assert s["precision"] == approx(theirs["precision"])
        assert s["recall"] == approx(theirs["recall"])
        assert s["f1"] == approx(theirs["f1-score"])
        assert s["support"] == theirs["support"]
    assert set(r["per_type"]) == {k for k in report if not k.endswith(" avg")}


@pytest.mark.parametrize(
    ("true", "pred", "match"),
    [
        ([["O", "B-PER"]], [["O"]], "sentence 0 has 2 true tags but 1"),
        ([["O"], ["O"]], [["O"]], "2 sentences"),
        ([], [], "no sentences"),
        ([[], []], [[], []], "no tokens"),
        (["O B-PER"], ["O B-PER"], "string"),
    ],
)
def test_ner_errors(true, pred, match):
    with pytest.raises(UsageError, match=match):
        ner_metrics(true, pred)


# ---------------------------------------------------------------- SQuAD


def test_normalize_answer_and_answer_f1():
    assert normalize_answer("The Eiffel Tower!") == "eiffel tower"
    assert normalize_answer("  An apple, a   day. ") == "apple day"
    assert normalize_answer("theatre") == "theatre"  # articles only as whole words
    assert answer_f1("President Obama", "Obama") == approx(2 / 3)  # precision 1/2, recall 1
    assert answer_f1("the cat sat", "a cat") == approx(2 * 0.5 * 1 / 1.5)
    assert answer_f1("", "") == 1.0
    assert answer_f1("the", "") == 1.0  # both normalise to nothing
    assert answer_f1("cat", "") == 0.0
    assert answer_f1("", "cat") == 0.0
    assert answer_f1("dog", "cat") == 0.0


def test_squad_normalisation_gives_exact_match():
    r = squad_metrics({"q1": "The Eiffel Tower!"}, {"q1": ["eiffel tower"]})
    assert r["exact_match"] == 1.0
    assert r["f1"] == 1.0
    assert r["has_answer"] == {"exact_match": 1.0, "f1": 1.0, "n": 1}
    assert r["no_answer"] == {"exact_match": None, "f1": None, "n": 0}
    assert_json(r)


def test_squad_v2_split_max_over_golds_and_missing_predictions():
    refs = {"q1": ["Paris"], "q2": [], "q3": [], "q4": ["Barack Obama", "Obama"]}
    preds = {"q1": "paris", "q2": "", "q3": "London", "q4": "President Obama", "extra": "ignored"}
    r = squad_metrics(preds, refs)
    # q4: F1 1/2 against "Barack Obama", 2/3 against "Obama": the best counts
    assert r["has_answer"] == approx({"exact_match": 1 / 2, "f1": (1 + 2 / 3) / 2, "n": 2})
    assert r["no_answer"] == approx({"exact_match": 1 / 2, "f1": 1 / 2, "n": 2})
    assert r["exact_match"] == approx(2 / 4)
    assert r["f1"] == approx((1 + 1 + 0 + 2 / 3) / 4)
    assert r["n"] == 4

    r = squad_metrics({}, {"answerable": ["x"], "unanswerable": []})  # missing = predicted ""
    assert r["has_answer"]["exact_match"] == 0.0
    assert r["no_answer"]["exact_match"] == 1.0
    assert r["no_answer"]["f1"] == 1.0


def test_squad_gold_answers_that_normalise_to_nothing_are_dropped():
    # Official v2 script: "the" is dropped from the golds, so "" no longer matches it.
    assert squad_metrics({"q": ""}, {"q": ["the", "cat"]})["exact_match"] == 0.0
    # A question left with no usable gold is scored as unanswerable, still grouped as has-answer.
    r = squad_metrics({"q": ""}, {"q": ["the"]})
    assert r["has_answer"] == {"exact_match": 1.0, "f1": 1.0, "n": 1}


def test_squad_none_prediction_means_no_answer():
    assert squad_metrics({"q": None}, {"q": []})["exact_match"] == 1.0


def test_squad_errors():
    with pytest.raises(UsageError, match="no reference"):
        squad_metrics({"q": "x"}, {})
    with pytest.raises(UsageError, match="not a list"):
        squad_metrics({"q": "x"}, {"q": "x"})
    with pytest.raises(UsageError, match="not a string"):
        squad_metrics({"q": 3}, {"q": ["3"]})


# ---------------------------------------------------------------- STS


def test_sts_agrees_with_scipy():
    rng = np.random.default_rng(4)
    gold = rng.uniform(0, 5, 50)
    pred = gold / 5 + rng.normal(0, 0.3, 50)
    r = sts_metrics(gold.tolist(), pred)
    assert r["spearman"] == approx(stats.spearmanr(gold, pred)[0])
    assert r["pearson"] == approx(stats.pearsonr(gold, pred)[0])
    assert r["n"] == 50
    assert_json(r)


def test_sts_hand_computed_and_constant_input():
    r = sts_metrics([1, 2, 3, 4], [10, 20, 40, 30])
    assert r["spearman"] == approx(0.8)  # rank differences 0, 0, 1, 1: 1 - 6 * 2 / (4 * 15)
    assert sts_metrics([1, 2, 3], [2, 4, 6])["pearson"] == approx(1.0)
    assert sts_metrics([1, 2, 3], [5, 5, 5]) == {"spearman": None, "pearson": None, "n": 3}


@pytest.mark.parametrize(
    ("gold", "pred", "match"),
    [
        ([1, 2], [1, 2, 3], "3"),
        ([1], [1], "at least 2"),
        ([1, float("nan")], [1, 2], "NaN"),
        (["a", "b"], [1, 2], "numbers"),
    ],
)
def test_sts_errors(gold, pred, match):
    with pytest.raises(UsageError, match=match):
        sts_metrics(gold, pred)


# ---------------------------------------------------------------- retrieval


def test_retrieval_hand_computed():
    scores = np.array([[0.1, 0.9, 0.5, 0.3], [0.1, 0.9, 0.5, 0.3]])  # ranking: 1, 2, 3, 0
    r = retrieval_metrics(scores, [{2}, {0, 3}], ks=(1, 3, 5))
    assert r["mrr@10"] == approx((1 / 2 + 1 / 3) / 2)  # relevant at rank 2, then first relevant at rank 3
    assert r["recall@1"] == 0.0
    assert r["recall@3"] == approx((1 + 1 / 2) / 2)
    assert r["recall@5"] == 1.0
    ndcg_q1 = (1 / math.log2(3)) / 1
    ndcg_q2 = (1 / math.log2(4) + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    assert r["ndcg@10"] == approx((ndcg_q1 + ndcg_q2) / 2)
    assert r["n_queries"] == 2
    assert list(r) == ["mrr@10", "recall@1", "recall@3", "recall@5", "ndcg@10", "n_queries"]
    assert_json(r)


def test_retrieval_mrr_at_rank_two_and_ties_by_lower_index():
    assert retrieval_metrics([[0.2, 0.8, 0.5]], [{2}])["mrr@10"] == 0.5
    ties = np.ones((1, 4))
    assert retrieval_metrics(ties, [{0}])["mrr@10"] == 1.0
    assert retrieval_metrics(ties, [{3}])["mrr@10"] == approx(1 / 4)
    assert retrieval_metrics(ties, [{3}], ks=(3,))["recall@3"] == 0.0
    ties = np.ones((1, 15))  # the top-10 cut falls among ties: the ten lowest indices make it
    assert retrieval_metrics(ties, [{9}])["mrr@10"] == approx(1 / 10)
    assert retrieval_metrics(ties, [{12}], ks=(10, 13))["mrr@10"] == 0.0
    assert retrieval_metrics(ties, [{12}], ks=(10, 13))["recall@13"] == 1.0


def test_retrieval_relevant_beyond_top_ten_scores_zero_mrr():
    scores = np.arange(20, 0, -1, dtype=float)[None, :]  # doc i at rank i + 1
    r = retrieval_metrics(scores, [{12}], ks=(10, 15))
    assert r["mrr@10"] == 0.0
    assert r["ndcg@10"] == 0.0
    assert r["recall@10"] == 0.0
    assert r["recall@15"] == 1.0


def reference_retrieval(scores: np.ndarray, relevant, ks) -> dict:
    """Full sort per query (by score descending, then index): the definition, without any shortcut."""
    out = dict.fromkeys([f"recall@{k}" for k in ks], 0.0) | {"mrr@10": 0.0, "ndcg@10": 0.0}
    for row, rel in zip(scores, relevant, strict=True):
        ranking = np.lexsort((np.arange(len(row)), -row))
        hits = [int(d) in rel for d in ranking]
        out["mrr@10"] += next((1 / (r + 1) for r, h in enumerate(hits[:10]) if h), 0.0)
        idcg = sum(1 / math.log2(r + 2) for r in range(min(len(rel), 10)))
        out["ndcg@10"] += sum(1 / math.log2(r + 2) for r, h in enumerate(hits[:10]) if h) / idcg
        for k in ks:
            out[f"recall@{k}"] += sum(hits[:k]) / len(rel)
    return {k: v / len(scores) for k, v in out.items()}


@pytest.mark.parametrize("chunk", [None, 1, 7])
def test_retrieval_agrees_with_full_sort_under_ties_and_chunking(chunk):
    rng = np.random.default_rng(5)
    for n_docs, ks in ((60, (1, 3, 5, 10, 20)), (25, (1, 5, 30))):  # a top-20 cut among ties; 30 > n_docs: all
        scores = rng.integers(0, 6, size=(40, n_docs)).astype(np.float32)  # many ties, also at the cut
        relevant = [set(rng.choice(n_docs, size=rng.integers(1, 8), replace=False).tolist()) for _ in range(40)]
        r = retrieval_metrics(scores, relevant, ks, query_chunk_size=chunk)
        expected = reference_retrieval(scores, relevant, ks)
        assert {k: r[k] for k in expected} == approx(expected)
        assert r["n_queries"] == 40


def test_retrieval_agrees_with_sentence_transformers_evaluator():
    try:
        from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator
    except ImportError:
        from sentence_transformers.evaluation import InformationRetrievalEvaluator

    rng = np.random.default_rng(6)
    n_q, n_d = 30, 40
    scores = rng.integers(0, 5, size=(n_q, n_d)).astype(float)
    relevant = [set(rng.choice(n_d, size=rng.integers(1, 6), replace=False).tolist()) for _ in range(n_q)]
    cid = "{:04d}".format  # the evaluator breaks ties by corpus id as a string: pad so that equals index order
    evaluator = InformationRetrievalEvaluator(
        queries={str(i): "q" for i in range(n_q)},
        corpus={cid(j): "d" for j in range(n_d)},
        relevant_docs={str(i): {cid(d) for d in rel} for i, rel in enumerate(relevant)},
        mrr_at_k=[10],
        ndcg_at_k=[10],
        precision_recall_at_k=[1, 3, 5, 10],
        accuracy_at_k=[1],
        map_at_k=[10],
    )
    theirs = evaluator.compute_metrics(
        [[{"corpus_id": cid(j), "score": float(scores[i, j])} for j in range(n_d)] for i in range(n_q)]
    )
    ours = retrieval_metrics(scores, relevant)
    assert ours["mrr@10"] == approx(theirs["mrr@k"][10])
    assert ours["ndcg@10"] == approx(theirs["ndcg@k"][10])
    for k in (1, 3, 5, 10):
        assert ours[f"recall@{k}"] == approx(theirs["recall@k"][k])


def test_retrieval_accepts_torch_tensors():
    rng = np.random.default_rng(7)
    scores = rng.normal(size=(12, 30)).astype(np.float32)
    relevant = [{int(i)} for i in rng.integers(0, 30, 12)]
    assert retrieval_metrics(torch.from_numpy(scores), relevant, query_chunk_size=5) == retrieval_metrics(
        scores, relevant
    )


@pytest.mark.parametrize(
    ("scores", "relevant", "kwargs", "match"),
    [
        ([[0.1, 0.2]], [set()], {}, "no relevant document"),
        ([[0.1, 0.2]], [{2}], {}, "outside 0..1"),
        ([[0.1, 0.2]], [{0}, {1}], {}, "1 query rows"),
        ([[0.1, 0.2]], [{0}], {"ks": (0,)}, "positive"),
        ([[0.1, 0.2]], [{0}], {"ks": ()}, "positive"),
        ([[0.1, float("nan")]], [{0}], {}, "NaN"),
        ([0.1, 0.2], [{0}], {}, "2-D"),
        (np.zeros((0, 3)), [], {}, "nothing to rank"),
        ([[0.1, 0.2]], [{0}], {"query_chunk_size": 0}, "query_chunk_size"),
    ],
)
def test_retrieval_errors(scores, relevant, kwargs, match):
    with pytest.raises(UsageError, match=match):
        retrieval_metrics(scores, relevant, **kwargs)


# ---------------------------------------------------------------- confusion plot

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_plot_confusion_matrix_writes_png_atomically(tmp_path):
    r = classification_metrics([0, 1, 2, 2, 1], [0, 2, 2, 1, 1], ["neg", "neu", "pos"])
    target = tmp_path / "confusion.png"
    target.write_bytes(b"old")  # replaced, not appended to
    out = plot_confusion_matrix(r["confusion"], r["labels"], str(target))
    assert out == target
    assert target.read_bytes()[:8] == PNG_MAGIC
    assert [p.name for p in tmp_path.iterdir()] == ["confusion.png"]  # no temp file left behind


def test_plot_confusion_matrix_handles_empty_rows_and_many_labels(tmp_path):
    labels = [f"label_{i}" for i in range(50)]
    confusion = np.zeros((50, 50), dtype=int)
    confusion[0, 0] = 3  # the other rows sum to 0: coloured as 0, not NaN
    out = plot_confusion_matrix(confusion.tolist(), labels, tmp_path / "big.png")
    assert out.read_bytes()[:8] == PNG_MAGIC


def test_plot_confusion_matrix_errors(tmp_path):
    with pytest.raises(UsageError, match="2 x 2"):
        plot_confusion_matrix([[1, 2, 3]], ["a", "b"], tmp_path / "x.png")
    with pytest.raises(UsageError, match="non-negative integer"):
        plot_confusion_matrix([[1, -1], [0, 0]], ["a", "b"], tmp_path / "x.png")
    with pytest.raises(OutputError, match="does not exist"):
        plot_confusion_matrix([[1, 0], [0, 1]], ["a", "b"], tmp_path / "missing" / "x.png")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- evaluate-compatible Metric


def test_load_metric_unknown_name_lists_the_available_ones():
    with pytest.raises(UsageError) as info:
        load_metric("bleu")
    assert "bleu" in str(info.value)
    for name in METRIC_NAMES:
        assert name in info.value.hint


def test_metric_add_batch_accumulates_and_compute_resets():
    metric = load_metric("accuracy")
    assert isinstance(metric, Metric)
    metric.add_batch(predictions=[0, 1], references=[0, 0])
    metric.add_batch(predictions=[1], references=[1])
    metric.add(prediction=1, reference=0)
    assert metric.compute() == {"accuracy": approx(2 / 4)}
    with pytest.raises(UsageError, match="no predictions"):
        metric.compute()  # the queue was emptied
    # predictions given to compute are scored together with the queued ones, as evaluate does
    metric.add_batch(predictions=[0], references=[0])
    assert metric.compute(predictions=[1, 1], references=[1, 0]) == {"accuracy": approx(2 / 3)}


def test_metric_f1_mcc_and_options_match_sklearn():
    from sklearn import metrics as skm

    rng = np.random.default_rng(8)
    refs = rng.integers(0, 3, 100).tolist()
    preds = rng.integers(0, 3, 100).tolist()
    f1 = load_metric("f1")
    assert f1.compute(predictions=preds, references=refs) == {"f1": approx(skm.f1_score(refs, preds, average="macro"))}
    weighted = f1.compute(predictions=preds, references=refs, average="weighted")
    assert weighted == {"f1": approx(skm.f1_score(refs, preds, average="weighted"))}
    binary_refs, binary_preds = [r % 2 for r in refs], [p % 2 for p in preds]
    assert f1.compute(predictions=binary_preds, references=binary_refs, average="binary") == {
        "f1": approx(skm.f1_score(binary_refs, binary_preds))
    }
    mcc = load_metric("matthews_correlation").compute(predictions=preds, references=refs)
    assert mcc == {"matthews_correlation": approx(skm.matthews_corrcoef(refs, preds))}
    assert load_metric("accuracy").compute(predictions=preds, references=refs, normalize=False) == {
        "accuracy": float(sum(p == r for p, r in zip(preds, refs, strict=True)))
    }


def test_metric_errors():
    f1 = load_metric("f1")
    with pytest.raises(UsageError, match="unsupported average"):
        f1.compute(predictions=[0, 1], references=[0, 1], average="samples")
    with pytest.raises(UsageError, match="unknown option"):
        f1.compute(predictions=[0, 1], references=[0, 1], beta=2)
    with pytest.raises(UsageError, match="metric 'f1'"):  # scikit-learn's ValueError, as a UsageError
        f1.compute(predictions=[0, 1, 2], references=[0, 1, 2], average="binary")
    with pytest.raises(UsageError, match="2 predictions but 1"):
        f1.add_batch(predictions=[0, 1], references=[0])
    with pytest.raises(UsageError, match="both"):
        f1.compute(predictions=[0, 1])


def test_metric_seqeval_has_the_hub_keys():
    true = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "B-ORG"]]
    pred = [["B-PER", "O", "O", "B-LOC"], ["O", "O"]]
    metric = load_metric("seqeval")
    metric.add_batch(predictions=pred[:1], references=true[:1])
    metric.add_batch(predictions=pred[1:], references=true[1:])
    r = metric.compute()
    assert r["overall_precision"] == approx(1 / 2)
    assert r["overall_recall"] == approx(1 / 3)
    assert r["overall_f1"] == approx(2 / 5)
    assert r["overall_accuracy"] == approx(4 / 6)
    assert r["LOC"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "number": 1}
    assert r["PER"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "number": 1}
    assert set(r) == {"LOC", "ORG", "PER", "overall_precision", "overall_recall", "overall_f1", "overall_accuracy"}
    assert_json(r)


def squad_items(answers: dict[str, list[str]], predicted: dict[str, str], *, v2: bool = False):
    preds = [
        {"id": qid, "prediction_text": text, **({"no_answer_probability": 0.0} if v2 else {})}
        for qid, text in predicted.items()
    ]
    refs = [{"id": qid, "answers": {"text": a, "answer_start": [0] * len(a)}} for qid, a in answers.items()]
    return preds, refs


def test_metric_squad_reports_percent():
    preds, refs = squad_items(
        {"q1": ["eiffel tower"], "q2": ["Barack Obama", "Obama"]}, {"q1": "The Eiffel Tower!", "q2": "President Obama"}
    )
    r = load_metric("squad").compute(predictions=preds, references=refs)
    assert r == {"exact_match": approx(50.0), "f1": approx(100 * (1 + 2 / 3) / 2)}
    # v1 scores two answers that normalise to nothing as F1 0 (v2 as 1); exact match is 1 in both
    preds, refs = squad_items({"q": ["the"]}, {"q": "a"})
    assert load_metric("squad").compute(predictions=preds, references=refs) == {"exact_match": 100.0, "f1": 0.0}
    preds, refs = squad_items({"q": []}, {"q": ""})
    with pytest.raises(UsageError, match="squad_v2"):
        load_metric("squad").compute(predictions=preds, references=refs)


def test_metric_squad_v2_has_the_hub_keys():
    preds, refs = squad_items(
        {"q1": ["Paris"], "q2": [], "q3": [], "q4": ["Barack Obama", "Obama"]},
        {"q1": "paris", "q2": "", "q3": "London", "q4": "President Obama"},
        v2=True,
    )
    r = load_metric("squad_v2").compute(predictions=preds, references=refs)
    assert r == approx(
        {
            "exact": 50.0,
            "f1": 100 * (1 + 1 + 0 + 2 / 3) / 4,
            "total": 4,
            "HasAns_exact": 50.0,
            "HasAns_f1": 100 * (1 + 2 / 3) / 2,
            "HasAns_total": 2,
            "NoAns_exact": 50.0,
            "NoAns_f1": 50.0,
            "NoAns_total": 2,
        }
    )
    # As the official script: a group with no questions has no keys
    preds, refs = squad_items({"q1": ["Paris"]}, {"q1": "Paris"}, v2=True)
    assert load_metric("squad_v2").compute(predictions=preds, references=refs) == {
        "exact": 100.0,
        "f1": 100.0,
        "total": 1,
        "HasAns_exact": 100.0,
        "HasAns_f1": 100.0,
        "HasAns_total": 1,
    }


def test_metric_squad_input_errors():
    with pytest.raises(UsageError, match="prediction_text"):
        load_metric("squad").compute(predictions=[{"id": "q"}], references=[{"id": "q", "answers": {"text": ["x"]}}])
    preds, refs = squad_items({"q": ["x"]}, {"q": "x"})
    with pytest.raises(UsageError, match="twice"):
        load_metric("squad").compute(predictions=preds * 2, references=refs * 2)


def test_metric_correlations_match_scipy():
    rng = np.random.default_rng(9)
    refs = rng.uniform(0, 5, 40).tolist()
    preds = (np.asarray(refs) + rng.normal(0, 1, 40)).tolist()
    rho, p_rho = stats.spearmanr(refs, preds)
    r, p_r = stats.pearsonr(refs, preds)
    assert load_metric("spearmanr").compute(predictions=preds, references=refs) == {"spearmanr": approx(rho)}
    assert load_metric("pearsonr").compute(predictions=preds, references=refs) == {"pearsonr": approx(r)}
    assert load_metric("spearmanr").compute(predictions=preds, references=refs, return_pvalue=True) == {
        "spearmanr": approx(rho),
        "spearmanr_pvalue": approx(p_rho),
    }
    assert load_metric("pearsonr").compute(predictions=preds, references=refs, return_pvalue=True) == {
        "pearsonr": approx(r),
        "p-value": approx(p_r),
    }
    assert load_metric("pearsonr").compute(predictions=[1, 1, 1], references=[1, 2, 3]) == {"pearsonr": None}


# ---------------------------------------------------------------- import cost


def test_import_does_not_load_heavy_dependencies():
    code = (
        "import sys, nlu_toolkit.core.metrics; "
        "print(sorted(m for m in ('sklearn', 'scipy', 'seqeval', 'matplotlib', 'torch') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# ---------------------------------------------------------------- seq2seq: BLEU, chrF, ROUGE


def test_seq2seq_identical_texts_score_one():
    from nlu_toolkit.core.metrics import seq2seq_metrics

    texts = ["the ferry adds an evening crossing", "a storm felled the old oak in the park"]
    result = seq2seq_metrics(texts, list(texts))
    assert result == {"bleu": 1.0, "chrf": 1.0, "rouge1": 1.0, "rouge2": 1.0, "rougeL": 1.0, "rougeLsum": 1.0, "n": 2}
    assert_json(result)


def test_seq2seq_rouge1_partial_overlap_by_hand():
    from nlu_toolkit.core.metrics import seq2seq_metrics

    # Prediction 4 tokens, reference 6, 3 shared unigrams: P = 3/4, R = 3/6, F1 = 2PR/(P+R) = 0.6.
    # Bigrams: "the cat" and "cat sat" shared (2 of 3 and 2 of 5): F = 2*(2/3)*(2/5)/((2/3)+(2/5)) = 0.5.
    result = seq2seq_metrics(["the cat sat down"], ["the cat sat on the mat"])
    assert result["rouge1"] == approx(0.6)
    assert result["rouge2"] == approx(0.5)
    assert result["rougeL"] == approx(0.6)  # LCS "the cat sat"
    assert result["n"] == 1
    # ROUGE is the mean over examples: a disjoint pair halves it.
    both = seq2seq_metrics(["the cat sat down", "blue sky"], ["the cat sat on the mat", "green grass"])
    assert both["rouge1"] == approx(0.3)


def test_seq2seq_rouge_stems_and_lsum_splits_lines():
    from nlu_toolkit.core.metrics import seq2seq_metrics

    assert seq2seq_metrics(["the cats were running"], ["the cat was running"])["rouge1"] > 0.7  # cats ~ cat
    # Summary-level LCS: each reference line (sentence) is matched on its own, so their order does not matter.
    result = seq2seq_metrics(["a b c d"], ["c d\na b"])
    assert result["rougeL"] == approx(0.5) and result["rougeLsum"] == approx(1.0)


def test_seq2seq_agrees_with_sacrebleu_and_rouge_score():
    import sacrebleu
    from rouge_score import rouge_scorer

    from nlu_toolkit.core.metrics import seq2seq_metrics

    predictions = [
        "A cafe in Stowick takes books as payment for coffee.",
        "Snow shut the pass above Keldrith in May.",
        "Teenagers painted a mural at the old station.",
    ]
    references = [
        "A Stowick cafe accepts books as payment and gives them to schools.",
        "May snow briefly closed the pass above Keldrith.",
        "Morley teenagers painted a history mural on the old station.",
    ]
    result = seq2seq_metrics(predictions, references)
    assert result["bleu"] == approx(sacrebleu.corpus_bleu(predictions, [references]).score / 100)
    assert result["chrf"] == approx(sacrebleu.corpus_chrf(predictions, [references]).score / 100)
    assert 0 < result["bleu"] < 1 and 0 < result["chrf"] < 1
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL", "rougeLsum"], use_stemmer=True)
    scores = [scorer.score(r, p) for p, r in zip(predictions, references, strict=True)]
    for key in ("rouge1", "rouge2", "rougeL", "rougeLsum"):
        assert result[key] == approx(sum(s[key].fmeasure for s in scores) / 3)
    assert_json(result)


def test_seq2seq_bad_inputs_are_usage_errors():
    from nlu_toolkit.core.metrics import seq2seq_metrics

    with pytest.raises(UsageError, match="2 predictions but 1 references"):
        seq2seq_metrics(["a", "b"], ["a"])
    with pytest.raises(UsageError, match="no predictions"):
        seq2seq_metrics([], [])
    with pytest.raises(UsageError, match="not a string"):
        seq2seq_metrics([None], ["a"])


def test_load_metric_sacrebleu_and_rouge_mirror_the_hub():
    import sacrebleu

    predictions = ["the cat sat on the mat", "a dog ran in the park today"]
    references = [["the cat sat on the mat"], ["the dog ran in a park"]]
    found = load_metric("sacrebleu").compute(predictions=predictions, references=references)
    expected = sacrebleu.corpus_bleu(predictions, [[r[0] for r in references]])
    assert found["score"] == approx(expected.score)  # 0-100, as the Hub's
    assert found["bp"] == approx(expected.bp) and found["counts"] == list(expected.counts)
    assert {"score", "counts", "totals", "precisions", "bp", "sys_len", "ref_len"} <= set(found)
    assert_json(found)
    lowered = load_metric("sacrebleu").compute(predictions=["The Cat"], references=[["the cat"]], lowercase=True)
    assert lowered["score"] == approx(sacrebleu.corpus_bleu(["The Cat"], [["the cat"]], lowercase=True).score)
    with pytest.raises(UsageError, match="same number of references"):
        load_metric("sacrebleu").compute(predictions=["a", "b"], references=[["a"], ["b", "c"]])

    rouge = load_metric("rouge")
    scores = rouge.compute(predictions=["the cat sat down"], references=["the cat sat on the mat"])
    assert set(scores) == {"rouge1", "rouge2", "rougeL", "rougeLsum"}
    assert scores["rouge1"] == approx(0.6)  # a fraction, as the Hub's
    per_example = rouge.compute(
        predictions=["the cats", "x"], references=["the cat", "x"], rouge_types=["rouge1"], use_aggregator=False
    )
    assert per_example == {"rouge1": [approx(0.5), approx(1.0)]}  # no stemming by default, as the Hub's
    stemmed = rouge.compute(predictions=["the cats"], references=["the cat"], rouge_types=["rouge1"], use_stemmer=True)
    assert stemmed == {"rouge1": approx(1.0)}
    best = rouge.compute(predictions=["a b"], references=[["x y", "a b"]], rouge_types=["rouge1"])
    assert best == {"rouge1": approx(1.0)}  # several references: the best one counts
    with pytest.raises(UsageError, match="rouge9x"):
        rouge.compute(predictions=["a"], references=["a"], rouge_types=["rouge9x"])
    with pytest.raises(UsageError, match="unknown option"):
        rouge.compute(predictions=["a"], references=["a"], beta=2)
    assert {"sacrebleu", "rouge"} <= set(METRIC_NAMES)


def test_import_does_not_load_sacrebleu_or_rouge_score():
    code = (
        "import sys, nlu_toolkit.core.metrics; "
        "print(sorted(m for m in ('sacrebleu', 'rouge_score', 'nltk') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
