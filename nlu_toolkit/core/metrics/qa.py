"""SQuAD answer normalisation, token F1 and exact match (v1 and v2 rules)."""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Mapping

from nlu_toolkit.errors import UsageError

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
