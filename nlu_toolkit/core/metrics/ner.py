"""Entity-level NER scores on IOB2 tags (seqeval's conlleval mode)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from nlu_toolkit.core.metrics.common import _prf
from nlu_toolkit.errors import UsageError


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
