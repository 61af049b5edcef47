"""Evaluation metrics for classification, NER, QA, STS, retrieval and seq2seq, computed locally.

``evaluate.load(...)`` downloads each metric's script from the Hub, which fails
offline; everything here runs on numpy, scikit-learn, scipy, seqeval, sacrebleu and rouge-score alone.
Functions are pure: label ids, tag lists or score arrays in, a dict out.

Conventions, so that results can be written as JSON and compared across runs:

- scores are fractions in ``[0, 1]``, never percentages (except in `Metric`,
  which mirrors the Hub metrics, and SQuAD's Hub metrics report percentages);
- values are plain Python ``float`` / ``int`` (no numpy scalars); a score that
  is undefined (an empty group, a constant series) is ``None``, not NaN;
- a ratio with a zero denominator is 0 (scikit-learn's ``zero_division=0``).

scikit-learn, scipy, seqeval, sacrebleu, rouge-score and matplotlib are imported inside the functions
that need them, so importing this module stays cheap.
"""

from __future__ import annotations

import math
import os
import re
import string
import warnings
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nlu_toolkit.errors import UsageError

__all__ = [
    "METRIC_NAMES",
    "Metric",
    "answer_f1",
    "classification_metrics",
    "load_metric",
    "multilabel_metrics",
    "ner_metrics",
    "normalize_answer",
    "plot_confusion_matrix",
    "retrieval_metrics",
    "seq2seq_metrics",
    "squad_metrics",
    "sts_metrics",
]


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den else 0.0


def _prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    """Precision, recall and F1 from counts, each 0 when undefined.

    F1 as ``2tp / (2tp + fp + fn)``: equal to the harmonic mean of precision and
    recall, and defined (0) when both are 0, as scikit-learn >= 1.3.
    """
    return _ratio(tp, tp + fp), _ratio(tp, tp + fn), _ratio(2 * tp, 2 * tp + fp + fn)


def _check_labels(labels: Sequence[str]) -> list[str]:
    labels = list(labels)
    if not labels:
        raise UsageError("labels is empty", "pass the label names, in label-id order")
    if len(set(labels)) != len(labels):
        dupes = sorted({str(x) for x in labels if labels.count(x) > 1})
        raise UsageError(f"duplicate label names: {', '.join(dupes)}", "label names must be unique")
    return labels


# ---------------------------------------------------------------- classification


def _label_ids(x: Sequence[int], name: str, n_labels: int) -> np.ndarray:
    a = np.asarray(x)
    if a.ndim != 1:
        raise UsageError(f"{name} must be a 1-D sequence of label ids, got shape {a.shape}", "pass one id per example")
    if len(a) == 0:  # np.asarray([]) is float64: not a dtype error
        return np.zeros(0, dtype=np.int64)
    if a.dtype.kind == "b" or a.dtype.kind not in "iu":
        raise UsageError(f"{name} must hold integer label ids, got dtype {a.dtype}", "map label names to ids first")
    if len(a) and (a.min() < 0 or a.max() >= n_labels):
        bad = int(a[(a < 0) | (a >= n_labels)][0])
        raise UsageError(
            f"{name} holds label id {bad}, outside 0..{n_labels - 1}", f"there are {n_labels} labels; ids index them"
        )
    return a.astype(np.int64, copy=False)


def _confusion(y_true: np.ndarray, y_pred: np.ndarray, n_labels: int) -> np.ndarray:
    """``(L, L)`` counts, rows = true, columns = predicted (scikit-learn's layout)."""
    return np.bincount(y_true * n_labels + y_pred, minlength=n_labels * n_labels).reshape(n_labels, n_labels)


def _mcc(confusion: np.ndarray) -> float:
    """Multiclass Matthews correlation (Gorodkin's R_K) from a confusion matrix, as scikit-learn.

    Computed in Python integers: ``n**2 * n**2`` overflows int64 from about 55,000 examples.
    """
    t_sum = [int(v) for v in confusion.sum(axis=1)]
    p_sum = [int(v) for v in confusion.sum(axis=0)]
    n = sum(t_sum)
    correct = int(np.trace(confusion))
    cov_tp = correct * n - sum(t * p for t, p in zip(t_sum, p_sum, strict=True))
    cov_pp = n * n - sum(p * p for p in p_sum)
    cov_tt = n * n - sum(t * t for t in t_sum)
    if cov_pp == 0 or cov_tt == 0:  # one class only, in truth or prediction: scikit-learn returns 0
        return 0.0
    return float(cov_tp / math.sqrt(cov_tt * cov_pp))


def classification_metrics(y_true: Sequence[int], y_pred: Sequence[int], labels: list[str]) -> dict:
    """Single-label classification scores.

    Args:
        y_true, y_pred: ``(n,)`` integer label ids, each indexing ``labels``.
        labels: the ``L`` label names, in id order.

    Returns:
        ``{"accuracy", "macro_f1", "weighted_f1", "mcc", "n", "labels",
        "per_class": {label: {"precision", "recall", "f1", "support"}},
        "confusion"}``; ``confusion`` is an ``L x L`` list of lists, rows = true
        label, columns = predicted, both in ``labels`` order.

    Every label appears in ``per_class`` and ``confusion``, including labels
    absent from both inputs (all zeros); those count as F1 0 in ``macro_f1``,
    as scikit-learn with ``labels=range(L), zero_division=0``.
    ``weighted_f1`` weights by true support.
    """
    labels = _check_labels(labels)
    n_labels = len(labels)
    t = _label_ids(y_true, "y_true", n_labels)
    p = _label_ids(y_pred, "y_pred", n_labels)
    if len(t) != len(p):
        raise UsageError(f"y_true has {len(t)} items but y_pred has {len(p)}", "pass one prediction per example")
    if len(t) == 0:
        raise UsageError("no examples to score", "y_true and y_pred are empty")
    cm = _confusion(t, p, n_labels)
    tp = np.diag(cm)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    per_class: dict[str, dict[str, Any]] = {}
    f1s = []
    for i, label in enumerate(labels):
        prec, rec, f1 = _prf(int(tp[i]), int(predicted[i] - tp[i]), int(support[i] - tp[i]))
        per_class[label] = {"precision": prec, "recall": rec, "f1": f1, "support": int(support[i])}
        f1s.append(f1)
    n = len(t)
    return {
        "accuracy": float(tp.sum() / n),
        "macro_f1": float(np.mean(f1s)),
        "weighted_f1": float(np.dot(f1s, support) / n),
        "mcc": _mcc(cm),
        "n": n,
        "labels": labels,
        "per_class": per_class,
        "confusion": cm.tolist(),
    }


def _binary_matrix(x: object, name: str, n_labels: int) -> np.ndarray:
    a = np.asarray(x)
    if a.ndim != 2 or a.shape[1] != n_labels:
        raise UsageError(
            f"{name} must be an (n, {n_labels}) 0/1 matrix, got shape {a.shape}", "one column per label, in order"
        )
    if a.size and not np.isin(a, (0, 1)).all():
        raise UsageError(f"{name} must hold only 0 and 1", "threshold the scores into 0/1 predictions first")
    return a.astype(bool)


def multilabel_metrics(y_true: object, y_pred: object, labels: list[str]) -> dict:
    """Multi-label classification scores.

    Args:
        y_true, y_pred: ``(n, L)`` 0/1 (or bool) indicator matrices.
        labels: the ``L`` label names, in column order.

    Returns:
        ``{"accuracy", "micro_f1", "macro_f1", "hamming_loss", "n", "labels",
        "per_class": {label: {"precision", "recall", "f1", "support"}}}``.
        ``accuracy`` is subset accuracy (a row counts only if every label is
        right); ``hamming_loss`` the fraction of wrong cells. Micro F1 pools the
        counts of all labels; macro F1 averages the per-label F1 of all ``L``
        labels, as scikit-learn with ``zero_division=0``.
    """
    labels = _check_labels(labels)
    t = _binary_matrix(y_true, "y_true", len(labels))
    p = _binary_matrix(y_pred, "y_pred", len(labels))
    if t.shape != p.shape:
        raise UsageError(f"y_true has shape {t.shape} but y_pred has {p.shape}", "pass one prediction row per example")
    n = len(t)
    if n == 0:
        raise UsageError("no examples to score", "y_true and y_pred are empty")
    tp = (t & p).sum(axis=0)
    fp = (~t & p).sum(axis=0)
    fn = (t & ~p).sum(axis=0)
    per_class: dict[str, dict[str, Any]] = {}
    f1s = []
    for i, label in enumerate(labels):
        prec, rec, f1 = _prf(int(tp[i]), int(fp[i]), int(fn[i]))
        per_class[label] = {"precision": prec, "recall": rec, "f1": f1, "support": int(tp[i] + fn[i])}
        f1s.append(f1)
    return {
        "accuracy": float((t == p).all(axis=1).mean()),
        "micro_f1": _prf(int(tp.sum()), int(fp.sum()), int(fn.sum()))[2],
        "macro_f1": float(np.mean(f1s)),
        "hamming_loss": float((t != p).mean()),
        "n": n,
        "labels": labels,
        "per_class": per_class,
    }


# ---------------------------------------------------------------- NER


def _check_tag_lists(true_tags: list[list[str]], pred_tags: list[list[str]]) -> None:
    if len(true_tags) != len(pred_tags):
        raise UsageError(
            f"true_tags has {len(true_tags)} sentences but pred_tags has {len(pred_tags)}",
            "pass one predicted tag sequence per sentence",
        )
    for i, (t, p) in enumerate(zip(true_tags, pred_tags, strict=True)):
        if isinstance(t, str) or isinstance(p, str):
            raise UsageError(f"sentence {i} is a string, not a list of tags", "pass a list of tag lists")
        if len(t) != len(p):
            raise UsageError(
                f"sentence {i} has {len(t)} true tags but {len(p)} predicted tags",
                "predict exactly one tag per word (align sub-word predictions to words first)",
            )


def ner_metrics(true_tags: list[list[str]], pred_tags: list[list[str]]) -> dict:
    """Entity-level NER scores on IOB2 tags, as seqeval's default (conlleval) mode.

    Args:
        true_tags, pred_tags: one list of tags (``"B-PER"``, ``"I-PER"``, ``"O"``)
            per sentence; sentence ``i`` must have the same length in both.

    Returns:
        ``{"precision", "recall", "f1", "accuracy", "tp", "fp", "fn",
        "n_sentences", "per_type": {TYPE: {"precision", "recall", "f1",
        "support", "tp", "fp", "fn"}}}``. ``accuracy`` is token-level; the rest
        count whole entities: a predicted entity is a true positive only if one
        true entity has the same type, start and end, so a boundary error is
        one false positive and one false negative. ``support`` is the number of
        true entities; ``per_type`` covers every type seen in either input.

    Entities are found per sentence with seqeval's own ``get_entities`` (which
    also accepts conlleval's lenient spans, such as an ``I-`` after ``O``), so the
    overall scores equal ``seqeval.metrics.precision_score`` etc.
    """
    from seqeval.metrics.sequence_labeling import get_entities

    _check_tag_lists(true_tags, pred_tags)
    if not true_tags:
        raise UsageError("no sentences to score", "true_tags and pred_tags are empty")
    n_tokens = sum(len(s) for s in true_tags)
    if n_tokens == 0:
        raise UsageError("no tokens to score", "every sentence is empty")

    true_ents: set[tuple[int, str, int, int]] = set()
    pred_ents: set[tuple[int, str, int, int]] = set()
    correct_tokens = 0
    for i, (t, p) in enumerate(zip(true_tags, pred_tags, strict=True)):
        true_ents.update((i, typ, start, end) for typ, start, end in get_entities(list(t)))
        pred_ents.update((i, typ, start, end) for typ, start, end in get_entities(list(p)))
        correct_tokens += sum(a == b for a, b in zip(t, p, strict=True))

    hits = true_ents & pred_ents
    n_true, n_pred, n_hit = (Counter(e[1] for e in ents) for ents in (true_ents, pred_ents, hits))
    per_type: dict[str, dict[str, Any]] = {}
    for typ in sorted(n_true.keys() | n_pred.keys()):
        tp = n_hit[typ]
        fp = n_pred[typ] - tp
        fn = n_true[typ] - tp
        prec, rec, f1 = _prf(tp, fp, fn)
        per_type[typ] = {"precision": prec, "recall": rec, "f1": f1, "support": tp + fn, "tp": tp, "fp": fp, "fn": fn}
    tp, fp, fn = len(hits), len(pred_ents) - len(hits), len(true_ents) - len(hits)
    prec, rec, f1 = _prf(tp, fp, fn)
    return {
        "precision": prec,
        "recall": rec,
        "f1": f1,
        "accuracy": correct_tokens / n_tokens,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "n_sentences": len(true_tags),
        "per_type": per_type,
    }


# ---------------------------------------------------------------- SQuAD

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = frozenset(string.punctuation)


def normalize_answer(s: str) -> str:
    """SQuAD's answer normalisation: lowercase, drop ASCII punctuation, the articles a/an/the, and extra whitespace.

    The official evaluation scripts' steps, in their order (punctuation goes
    before articles, so ``"the-end"`` becomes ``"end"``).
    """
    s = "".join(ch for ch in s.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", s).split())


def _token_f1(prediction: str, ground_truth: str, *, empty_match: bool) -> float:
    pred = normalize_answer(prediction).split()
    gold = normalize_answer(ground_truth).split()
    if empty_match and (not pred or not gold):
        # SQuAD v2: "no answer" is a prediction too, right only when the gold is also empty.
        return float(pred == gold)
    same = sum((Counter(pred) & Counter(gold)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(gold)
    return 2 * precision * recall / (precision + recall)


def answer_f1(prediction: str, ground_truth: str) -> float:
    """SQuAD token F1 between one prediction and one gold answer (v2 rules).

    Bags of normalised tokens; when either side normalises to nothing, the
    score is 1 if both do and 0 otherwise (the v2 script; v1 scored both-empty 0).
    """
    return _token_f1(prediction, ground_truth, empty_match=True)


def _exact(prediction: str, ground_truth: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(ground_truth))


def _mean_or_none(values: list[float]) -> float | None:
    return float(sum(values) / len(values)) if values else None


def _prediction_text(value: object, qid: str) -> str:
    if value is None:  # pipelines report "no answer" as None or ""
        return ""
    if not isinstance(value, str):
        raise UsageError(f"prediction for {qid!r} is {type(value).__name__}, not a string", "predict answer text")
    return value


def squad_metrics(predictions: Mapping[str, str], references: Mapping[str, list[str]]) -> dict:
    """Exact match and token F1 over a SQuAD-style question set (v1 or v2).

    Args:
        predictions: question id -> predicted answer text (``""`` or None for no answer).
        references: question id -> gold answer texts; an empty list means the
            question has no answer (SQuAD v2).

    Returns:
        ``{"exact_match", "f1", "n", "has_answer": {"exact_match", "f1", "n"},
        "no_answer": {"exact_match", "f1", "n"}}`` as fractions; a group with
        ``n == 0`` has ``None`` scores.

    Follows the official v2 script: each score is the best over the gold
    answers; gold answers that normalise to nothing are dropped, and a question
    left with none is scored as unanswerable (against ``""``), so a prediction
    that normalises to nothing (``""``, ``"the"``, ``"."``) is right there. A
    question missing from ``predictions`` is scored as predicted ``""``;
    predictions for ids not in ``references`` are ignored, as the official
    scripts do. Questions are grouped by whether their reference list is empty.
    """
    if not references:
        raise UsageError("no reference questions to score", "references is empty")
    groups: dict[bool, tuple[list[float], list[float]]] = {True: ([], []), False: ([], [])}
    for qid, golds in references.items():
        if isinstance(golds, str):
            raise UsageError(f"references[{qid!r}] is a string, not a list of answers", "wrap it in a list")
        pred = _prediction_text(predictions.get(qid, ""), qid)
        kept = [g for g in golds if normalize_answer(g)] or [""]
        em_list, f1_list = groups[bool(golds)]
        em_list.append(max(_exact(pred, g) for g in kept))
        f1_list.append(max(answer_f1(pred, g) for g in kept))

    def summary(em: list[float], f1: list[float]) -> dict:
        return {"exact_match": _mean_or_none(em), "f1": _mean_or_none(f1), "n": len(em)}

    has, no = summary(*groups[True]), summary(*groups[False])
    all_em, all_f1 = groups[True][0] + groups[False][0], groups[True][1] + groups[False][1]
    return {**summary(all_em, all_f1), "has_answer": has, "no_answer": no}


# ---------------------------------------------------------------- STS


def _float_vector(x: Sequence[float], name: str) -> np.ndarray:
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise UsageError(f"{name} must be a sequence of numbers", "pass one similarity score per pair") from e
    if a.ndim != 1:
        raise UsageError(f"{name} must be 1-D, got shape {a.shape}", "pass one similarity score per pair")
    if not np.isfinite(a).all():
        raise UsageError(f"{name} contains NaN or infinite values", "check the model outputs and the gold file")
    return a


def _finite_or_none(x: float) -> float | None:
    """NaN (an undefined correlation) as None, which JSON can write."""
    return float(x) if math.isfinite(x) else None


def sts_metrics(gold: Sequence[float], predicted: Sequence[float]) -> dict:
    """Spearman and Pearson correlation between gold and predicted similarity scores.

    Args:
        gold, predicted: ``(n,)`` scores, ``n >= 2``; the scales need not match
            (gold 0-5 against cosine is fine: both correlations are scale-free).

    Returns:
        ``{"spearman", "pearson", "n"}``; a correlation is ``None`` when one
        side is constant (it is undefined; scipy would give NaN).
    """
    from scipy import stats

    g, p = _float_vector(gold, "gold"), _float_vector(predicted, "predicted")
    if len(g) != len(p):
        raise UsageError(f"gold has {len(g)} scores but predicted has {len(p)}", "pass one prediction per pair")
    if len(g) < 2:
        raise UsageError(f"correlation needs at least 2 pairs, got {len(g)}", "score more sentence pairs")
    if np.ptp(g) == 0 or np.ptp(p) == 0:
        return {"spearman": None, "pearson": None, "n": len(g)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy's near-constant-input warnings: the value is still returned
        spearman = stats.spearmanr(g, p)[0]
        pearson = stats.pearsonr(g, p)[0]
    return {"spearman": _finite_or_none(spearman), "pearson": _finite_or_none(pearson), "n": len(g)}


# ---------------------------------------------------------------- retrieval

_RANK_CUTOFF = 10  # MRR and nDCG are reported @10, as sentence-transformers' InformationRetrievalEvaluator
_CHUNK_ELEMENTS = 4_000_000  # scores per query chunk (32 MB as float64, plus masks of the same shape)


def _top_k_rows(s: np.ndarray, k: int) -> np.ndarray:
    """Column indices of each row's ``k`` best scores, best first, ties broken by the lower column.

    ``argpartition`` alone picks arbitrarily among scores equal to the k-th
    best, so the cut is redone with masks: everything above the k-th value,
    then the lowest-indexed ties to fill ``k``. Only the ``(rows, k)`` winners
    are sorted, never the full row.
    """
    n_rows, n_cols = s.shape
    if k >= n_cols:
        kth = s.min(axis=1, keepdims=True)
    else:
        kth = np.partition(s, n_cols - k, axis=1)[:, n_cols - k : n_cols - k + 1]
    above = s > kth
    tied = s == kth
    room = k - above.sum(axis=1, keepdims=True)
    keep = above | (tied & (np.cumsum(tied, axis=1) <= room))
    cols = np.nonzero(keep)[1].reshape(n_rows, k)  # row-major: ascending column within each row
    vals = np.take_along_axis(s, cols, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")  # stable on ascending columns = ties by lower index
    return np.take_along_axis(cols, order, axis=1)


def _score_rows(scores: Any, q0: int, q1: int) -> np.ndarray:
    chunk = scores[q0:q1]
    if hasattr(chunk, "detach"):  # a torch tensor, maybe on GPU or bfloat16: only this chunk moves to the CPU
        chunk = chunk.detach().float().cpu().numpy()
    chunk = np.asarray(chunk, dtype=np.float64)
    if np.isnan(chunk).any():
        raise UsageError("scores contain NaN", "check the embeddings for NaN or zero vectors")
    return chunk


def retrieval_metrics(
    scores: Any,
    relevant: Sequence[Collection[int]],
    ks: Sequence[int] = (1, 3, 5, 10),
    *,
    query_chunk_size: int | None = None,
) -> dict:
    """Ranking quality of a query-document score matrix against known relevant documents.

    Args:
        scores: ``(n_queries, n_docs)`` similarities (numpy, a memmap or a torch
            tensor on any device), higher is better.
        relevant: ``relevant[i]`` is the set of relevant document indices of query ``i``
            (at least one each).
        ks: cut-offs for recall.
        query_chunk_size: queries ranked at once; default keeps a chunk near
            4 million scores.

    Returns:
        ``{"mrr@10", "recall@k" for each k in ks, "ndcg@10", "n_queries"}``:
        means over queries, with binary relevance. ``recall@k`` is
        ``|relevant ∩ top k| / |relevant|``; ``mrr@10`` the reciprocal rank of
        the first relevant document in the top 10 (0 if none); ``ndcg@10``
        normalised by the ideal ranking of ``min(|relevant|, 10)`` documents.
        Ranks break ties by the lower document index. The numbers match
        sentence-transformers' ``InformationRetrievalEvaluator`` (which breaks
        ties by corpus id, so equal there when ids sort as the indices do).

    Only the top ``max(max(ks), 10)`` of each row is extracted (partition, then
    a sort of those few), one chunk of queries at a time.
    """
    ks = list(ks)
    if not ks or any(isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1 for k in ks):
        raise UsageError(f"ks must be positive integers, got {ks!r}", "for example ks=(1, 3, 5, 10)")
    shape = tuple(getattr(scores, "shape", ()))
    if len(shape) != 2:
        scores = np.asarray(scores)
        shape = scores.shape
    if len(shape) != 2:
        raise UsageError(f"scores must be a 2-D (n_queries, n_docs) matrix, got shape {shape}", "one row per query")
    n_queries, n_docs = int(shape[0]), int(shape[1])
    if n_queries == 0 or n_docs == 0:
        raise UsageError(f"scores has shape {shape}: nothing to rank", "pass at least one query and one document")
    if len(relevant) != n_queries:
        raise UsageError(
            f"scores has {n_queries} query rows but relevant has {len(relevant)} entries", "one set per query"
        )
    rel_sets: list[set[int]] = []
    for i, rel in enumerate(relevant):
        docs = {int(d) for d in rel}
        if not docs:
            raise UsageError(
                f"query {i} has no relevant document", "drop queries without judgements; their scores are undefined"
            )
        if min(docs) < 0 or max(docs) >= n_docs:
            raise UsageError(f"query {i} lists a relevant document outside 0..{n_docs - 1}", "indices index columns")
        rel_sets.append(docs)
    if query_chunk_size is not None and query_chunk_size < 1:
        raise UsageError(f"query_chunk_size must be >= 1, got {query_chunk_size}", "leave it unset for the default")

    depth = min(max(*ks, _RANK_CUTOFF), n_docs)
    chunk = query_chunk_size or max(1, _CHUNK_ELEMENTS // n_docs)
    discounts = 1.0 / np.log2(np.arange(2, _RANK_CUTOFF + 2))
    mrr = ndcg = 0.0
    recall = dict.fromkeys(ks, 0.0)
    for q0 in range(0, n_queries, chunk):
        q1 = min(q0 + chunk, n_queries)
        top = _top_k_rows(_score_rows(scores, q0, q1), depth)
        for row, docs in zip(top.tolist(), rel_sets[q0:q1], strict=True):
            hit = [d in docs for d in row]
            first = next((r for r, h in enumerate(hit[:_RANK_CUTOFF]) if h), None)
            mrr += 0.0 if first is None else 1.0 / (first + 1)
            dcg = sum(discounts[r] for r, h in enumerate(hit[:_RANK_CUTOFF]) if h)
            ndcg += dcg / discounts[: min(len(docs), _RANK_CUTOFF)].sum()
            for k in ks:
                recall[k] += sum(hit[:k]) / len(docs)
    result: dict[str, Any] = {f"mrr@{_RANK_CUTOFF}": float(mrr / n_queries)}
    result.update({f"recall@{k}": float(v / n_queries) for k, v in recall.items()})
    result[f"ndcg@{_RANK_CUTOFF}"] = float(ndcg / n_queries)
    result["n_queries"] = n_queries
    return result


# ---------------------------------------------------------------- confusion matrix plot


def plot_confusion_matrix(confusion: list[list[int]], labels: list[str], path: str | os.PathLike[str]) -> Path:
    """Write a PNG heat map of an ``L x L`` confusion matrix (rows = true, columns = predicted).

    Cells are coloured by the row-normalised count (the share of each true
    class predicted as each column, so small classes stay readable) and show
    the raw count. Uses matplotlib's object API with the Agg canvas, so no GUI
    backend or global pyplot state is touched. Written atomically: a temp file
    in the same folder, then renamed over ``path``.

    Returns:
        ``path`` as a `Path`.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from nlu_toolkit.io.writers import atomic_output

    labels = _check_labels(labels)
    cm = np.asarray(confusion)
    n = len(labels)
    if cm.shape != (n, n):
        raise UsageError(f"confusion must be {n} x {n} for {n} labels, got shape {cm.shape}", "one row per label")
    if cm.dtype.kind not in "iu" or (cm < 0).any():
        raise UsageError("confusion must hold non-negative integer counts", "pass classification_metrics' confusion")
    rows = cm.sum(axis=1, keepdims=True)
    share = np.divide(cm, rows, out=np.zeros(cm.shape, dtype=np.float64), where=rows > 0)

    side = min(2.0 + 0.6 * n, 30.0)  # about 0.6 inch per class, capped so huge label sets still render
    fig = Figure(figsize=(side + 1.5, side), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of true class")
    ax.set_xticks(range(n), labels=labels, rotation=45, ha="right", rotation_mode="anchor")
    ax.set_yticks(range(n), labels=labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if n <= 40:  # beyond that the numbers no longer fit in their cells
        font = 10 if n <= 10 else max(5, 10 - (n - 10) // 6)
        for i in range(n):
            for j in range(n):
                colour = "white" if share[i, j] > 0.5 else "black"  # readable on dark and light cells
                ax.text(j, i, str(int(cm[i, j])), ha="center", va="center", color=colour, fontsize=font)
    fig.tight_layout()
    target = Path(path)
    with atomic_output(target, "wb") as f:
        fig.savefig(f, format="png")
    return target


# ---------------------------------------------------------------- evaluate-compatible metrics


def _check_kwargs(name: str, kwargs: Mapping[str, Any], allowed: Collection[str]) -> None:
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        hint = f"{name} accepts: {', '.join(sorted(allowed))}" if allowed else f"{name} takes no options"
        raise UsageError(f"unknown option(s) for metric {name!r}: {', '.join(unknown)}", hint)


def _hub_accuracy(predictions: list, references: list, normalize: bool = True, sample_weight: Any = None) -> dict:
    from sklearn.metrics import accuracy_score

    return {
        "accuracy": float(accuracy_score(references, predictions, normalize=normalize, sample_weight=sample_weight))
    }


_F1_AVERAGES = ("macro", "micro", "weighted", "binary")


def _hub_f1(
    predictions: list,
    references: list,
    average: str = "macro",
    labels: Any = None,
    pos_label: Any = 1,
    sample_weight: Any = None,
) -> dict:
    from sklearn.metrics import f1_score

    if average not in _F1_AVERAGES:
        raise UsageError(f"unsupported average {average!r} for f1", f"use one of: {', '.join(_F1_AVERAGES)}")
    score = f1_score(
        references,
        predictions,
        labels=labels,
        pos_label=pos_label,
        average=average,
        sample_weight=sample_weight,
        zero_division=0,
    )
    return {"f1": float(score)}


def _hub_mcc(predictions: list, references: list, sample_weight: Any = None) -> dict:
    from sklearn.metrics import matthews_corrcoef

    return {"matthews_correlation": float(matthews_corrcoef(references, predictions, sample_weight=sample_weight))}


def _hub_seqeval(predictions: list, references: list) -> dict:
    r = ner_metrics(references, predictions)
    out: dict[str, Any] = {
        typ: {"precision": s["precision"], "recall": s["recall"], "f1": s["f1"], "number": s["support"]}
        for typ, s in r["per_type"].items()
    }
    out.update(
        overall_precision=r["precision"],
        overall_recall=r["recall"],
        overall_f1=r["f1"],
        overall_accuracy=r["accuracy"],
    )
    return out


def _squad_inputs(predictions: list, references: list) -> tuple[dict[str, Any], dict[str, list[str]]]:
    try:
        preds = {p["id"]: p["prediction_text"] for p in predictions}
        refs: dict[str, list[str]] = {}
        for r in references:
            if r["id"] in refs:
                raise UsageError(f"reference id {r['id']!r} appears twice", "each question must be listed once")
            refs[r["id"]] = list(r["answers"]["text"])
    except (KeyError, TypeError) as e:
        raise UsageError(
            "squad inputs must be predictions [{'id', 'prediction_text'}] and references "
            "[{'id', 'answers': {'text': [...], 'answer_start': [...]}}]",
            f"malformed item: missing {e}",
        ) from e
    return preds, refs


def _hub_squad(predictions: list, references: list) -> dict:
    """SQuAD v1.1's script: every question has an answer; F1 of two empty answers is 0."""
    preds, refs = _squad_inputs(predictions, references)
    em = f1 = 0.0
    for qid, golds in refs.items():
        if not golds:
            raise UsageError(
                f"question {qid!r} has no gold answer", "use load_metric('squad_v2') for unanswerable ones"
            )
        pred = _prediction_text(preds.get(qid, ""), qid)
        em += max(_exact(pred, g) for g in golds)
        f1 += max(_token_f1(pred, g, empty_match=False) for g in golds)
    return {"exact_match": 100.0 * em / len(refs), "f1": 100.0 * f1 / len(refs)}


def _hub_squad_v2(predictions: list, references: list) -> dict:
    """SQuAD v2.0's script; ``no_answer_probability`` is not used (the Hub's default threshold never applies it)."""
    preds, refs = _squad_inputs(predictions, references)
    r = squad_metrics(preds, refs)
    out: dict[str, Any] = {"exact": 100.0 * r["exact_match"], "f1": 100.0 * r["f1"], "total": r["n"]}
    # As the official script, a group's keys appear only when the group has questions.
    for key, group in (("HasAns", r["has_answer"]), ("NoAns", r["no_answer"])):
        if group["n"]:
            out[f"{key}_exact"] = 100.0 * group["exact_match"]
            out[f"{key}_f1"] = 100.0 * group["f1"]
            out[f"{key}_total"] = group["n"]
    return out


def _correlation_inputs(predictions: list, references: list) -> tuple[np.ndarray, np.ndarray]:
    p, r = _float_vector(predictions, "predictions"), _float_vector(references, "references")
    if len(p) < 2:
        raise UsageError(f"correlation needs at least 2 pairs, got {len(p)}", "score more pairs")
    return p, r


def _hub_spearmanr(predictions: list, references: list, return_pvalue: bool = False) -> dict:
    from scipy import stats

    p, r = _correlation_inputs(predictions, references)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant input: NaN, reported as None below
        rho, pvalue = stats.spearmanr(r, p)
    out = {"spearmanr": _finite_or_none(rho)}
    if return_pvalue:
        out["spearmanr_pvalue"] = _finite_or_none(pvalue)
    return out


def _hub_pearsonr(predictions: list, references: list, return_pvalue: bool = False) -> dict:
    from scipy import stats

    p, r = _correlation_inputs(predictions, references)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rho, pvalue = stats.pearsonr(r, p)
    out = {"pearsonr": _finite_or_none(rho)}
    if return_pvalue:
        out["p-value"] = _finite_or_none(pvalue)
    return out


# name -> (function of predictions, references and options; the options it accepts)
_METRICS: dict[str, tuple[Callable[..., dict], tuple[str, ...]]] = {
    "accuracy": (_hub_accuracy, ("normalize", "sample_weight")),
    "f1": (_hub_f1, ("average", "labels", "pos_label", "sample_weight")),
    "matthews_correlation": (_hub_mcc, ("sample_weight",)),
    "seqeval": (_hub_seqeval, ()),
    "squad": (_hub_squad, ()),
    "squad_v2": (_hub_squad_v2, ()),
    "spearmanr": (_hub_spearmanr, ("return_pvalue",)),
    "pearsonr": (_hub_pearsonr, ("return_pvalue",)),
}
METRIC_NAMES = tuple(_METRICS)


class Metric:
    """A local stand-in for `evaluate.EvaluationModule`.

    Either ``compute(predictions=..., references=..., **options)`` in one call,
    or ``add_batch(predictions=..., references=...)`` (or ``add``) repeatedly and
    then ``compute(**options)``. As in ``evaluate``, ``compute`` scores every
    example added so far plus any it is given, then forgets them all. Output
    keys, scales (SQuAD in percent) and options follow the Hub metric of the
    same name; values are plain Python numbers.
    """

    def __init__(self, name: str) -> None:
        if name not in _METRICS:
            raise UsageError(f"unknown metric {name!r}", f"available metrics: {', '.join(METRIC_NAMES)}")
        self.name = name
        self._fn, self._options = _METRICS[name]
        self._predictions: list[Any] = []
        self._references: list[Any] = []

    def __repr__(self) -> str:
        return f"Metric({self.name!r}, pending={len(self._predictions)})"

    def add_batch(self, *, predictions: Sequence[Any], references: Sequence[Any]) -> None:
        """Queue a batch of predictions and their references for the next `compute`."""
        predictions, references = list(predictions), list(references)
        if len(predictions) != len(references):
            raise UsageError(
                f"batch has {len(predictions)} predictions but {len(references)} references",
                "pass one reference per prediction",
            )
        self._predictions.extend(predictions)
        self._references.extend(references)

    def add(self, *, prediction: Any, reference: Any) -> None:
        """Queue one prediction and its reference."""
        self.add_batch(predictions=[prediction], references=[reference])

    def compute(
        self,
        *,
        predictions: Sequence[Any] | None = None,
        references: Sequence[Any] | None = None,
        **kwargs: Any,
    ) -> dict:
        """Score everything queued plus ``predictions``/``references``; the queue is emptied either way."""
        _check_kwargs(self.name, kwargs, self._options)
        if (predictions is None) != (references is None):
            self._predictions, self._references = [], []
            raise UsageError("pass both predictions and references, or neither", "or queue them with add_batch")
        try:
            if predictions is not None:
                self.add_batch(predictions=predictions, references=references or [])
            preds, refs = self._predictions, self._references
        finally:
            self._predictions, self._references = [], []
        if not preds:
            raise UsageError(f"no predictions to score for metric {self.name!r}", "call add_batch or pass predictions")
        try:
            return self._fn(preds, refs, **kwargs)
        except ValueError as e:  # scikit-learn's and scipy's complaints about the inputs or options
            raise UsageError(f"metric {self.name!r}: {e}", "check the predictions, references and options") from e


def load_metric(name: str) -> Metric:
    """A local `Metric` by its ``evaluate`` Hub name, e.g. ``load_metric("seqeval")`` for ``evaluate.load("seqeval")``.

    Names: ``accuracy``, ``f1``, ``matthews_correlation``, ``seqeval``, ``squad``,
    ``squad_v2``, ``spearmanr``, ``pearsonr``, ``sacrebleu`` (``score`` on 0-100)
    and ``rouge``. Unknown names raise `UsageError` listing these.
    """
    return Metric(name)


# ---------------------------------------------------------------- seq2seq: BLEU, chrF, ROUGE

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")


def _check_texts(predictions: Sequence[str], references: Sequence[Any]) -> tuple[list[str], list[Any]]:
    predictions, references = list(predictions), list(references)
    if len(predictions) != len(references):
        raise UsageError(
            f"{len(predictions)} predictions but {len(references)} references", "pass one reference per prediction"
        )
    if not predictions:
        raise UsageError("no predictions to score", "pass at least one prediction and its reference")
    for name, values in (("prediction", predictions), ("reference", references)):
        for i, value in enumerate(values):
            texts = value if name == "reference" and isinstance(value, (list, tuple)) else [value]
            if not texts or not all(isinstance(t, str) for t in texts):
                raise UsageError(f"{name} {i} is not a string: {value!r}", f"pass each {name} as text")
    return predictions, references


def _rouge_means(
    predictions: list[str], references: list[Any], rouge_types: Sequence[str], use_stemmer: bool
) -> tuple[dict[str, float], list[dict[str, float]]]:
    """Mean ROUGE F-measures, and the per-example ones; a list of references scores against the best."""
    from rouge_score import rouge_scorer

    unknown = [t for t in rouge_types if t not in ROUGE_TYPES and not re.fullmatch(r"rouge[1-9]", t)]
    if unknown or not rouge_types:
        raise UsageError(f"unknown ROUGE type(s): {', '.join(unknown) or '(none)'}", f"use {', '.join(ROUGE_TYPES)}")
    scorer = rouge_scorer.RougeScorer(list(rouge_types), use_stemmer=use_stemmer)
    rows = []
    for prediction, reference in zip(predictions, references, strict=True):
        if isinstance(reference, (list, tuple)):
            scores = scorer.score_multi(list(reference), prediction)
        else:
            scores = scorer.score(reference, prediction)
        rows.append({t: float(scores[t].fmeasure) for t in rouge_types})
    means = {t: float(np.mean([row[t] for row in rows])) for t in rouge_types}
    return means, rows


def seq2seq_metrics(predictions: list[str], references: list[str]) -> dict:
    """Corpus BLEU and chrF (sacrebleu), and ROUGE-1/2/L/Lsum (rouge-score), for generated texts.

    Every score is a fraction in ``[0, 1]``, like the module's other metrics:
    sacrebleu reports BLEU and chrF on a 0-100 scale, divided here by 100
    (``load_metric("sacrebleu")`` keeps the 0-100 scale of the Hub metric).
    BLEU is corpus-level with sacrebleu's defaults (13a tokenizer, exp smoothing);
    chrF uses character 6-grams, beta 2. ROUGE is the mean F-measure over the
    examples, with the Porter stemmer; ``rougeLsum`` treats newlines as sentence
    breaks (put one sentence per line to get summary-level LCS). rouge-score's
    tokenizer keeps only ASCII letters and digits, so ROUGE is 0 for scripts
    other than Latin: use BLEU/chrF there.

    Returns:
        ``{"bleu", "chrf", "rouge1", "rouge2", "rougeL", "rougeLsum", "n"}``.

    Raises:
        UsageError: lengths differ, no predictions, or a value is not a string.
    """
    import sacrebleu

    predictions, references = _check_texts(predictions, references)
    if any(isinstance(r, (list, tuple)) for r in references):
        raise UsageError("seq2seq_metrics takes one reference string per prediction", "pass a list of strings")
    bleu = sacrebleu.corpus_bleu(predictions, [references])
    chrf = sacrebleu.corpus_chrf(predictions, [references])
    rouge, _ = _rouge_means(predictions, references, ROUGE_TYPES, use_stemmer=True)
    return {
        # min(): sacrebleu's floating point can land a hair above 100 for identical texts.
        "bleu": min(1.0, float(bleu.score) / 100),
        "chrf": min(1.0, float(chrf.score) / 100),
        **rouge,
        "n": len(predictions),
    }


_SACREBLEU_OPTIONS = ("smooth_method", "smooth_value", "force", "lowercase", "tokenize", "use_effective_order")


def _hub_sacrebleu(predictions: list, references: list, **options: Any) -> dict:
    """The Hub's ``sacrebleu``: ``score`` on 0-100, ``counts``, ``totals``, ``precisions``, ``bp``, lengths.

    ``references`` holds one list of references per prediction (all of the same length); plain
    strings are read as one reference each.
    """
    import sacrebleu

    predictions, references = _check_texts(predictions, references)
    refs = [list(r) if isinstance(r, (list, tuple)) else [r] for r in references]
    width = len(refs[0])
    if any(len(r) != width for r in refs):
        raise UsageError("sacrebleu needs the same number of references for every prediction", "pad or trim them")
    bleu = sacrebleu.corpus_bleu(predictions, [[r[i] for r in refs] for i in range(width)], **options)
    return {
        "score": float(bleu.score),
        "counts": [int(c) for c in bleu.counts],
        "totals": [int(t) for t in bleu.totals],
        "precisions": [float(p) for p in bleu.precisions],
        "bp": float(bleu.bp),
        "sys_len": int(bleu.sys_len),
        "ref_len": int(bleu.ref_len),
    }


def _hub_rouge(
    predictions: list,
    references: list,
    rouge_types: Sequence[str] | None = None,
    use_stemmer: bool = False,
    use_aggregator: bool = True,
) -> dict:
    """The Hub's ``rouge``: F-measures as fractions, the mean over examples (a list each with
    ``use_aggregator=False``). As there, ``use_stemmer`` is off by default."""
    predictions, references = _check_texts(predictions, references)
    types = list(rouge_types) if rouge_types is not None else list(ROUGE_TYPES)
    means, rows = _rouge_means(predictions, references, types, use_stemmer=use_stemmer)
    if use_aggregator:
        return means
    return {t: [row[t] for row in rows] for t in types}


_METRICS["sacrebleu"] = (_hub_sacrebleu, _SACREBLEU_OPTIONS)
_METRICS["rouge"] = (_hub_rouge, ("rouge_types", "use_stemmer", "use_aggregator"))
METRIC_NAMES = tuple(_METRICS)
