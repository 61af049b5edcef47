"""Local stand-ins for the ``evaluate`` Hub metrics: `Metric`, `load_metric` and the `METRIC_NAMES` registry."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

import numpy as np

from nlu_toolkit.core.metrics.ner import ner_metrics
from nlu_toolkit.core.metrics.qa import _exact, _prediction_text, _token_f1, squad_metrics
from nlu_toolkit.core.metrics.seq2seq import ROUGE_TYPES, _check_texts, _rouge_means
from nlu_toolkit.core.metrics.sts import _finite_or_none, _float_vector
from nlu_toolkit.errors import UsageError


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
    "sacrebleu": (_hub_sacrebleu, _SACREBLEU_OPTIONS),
    "rouge": (_hub_rouge, ("rouge_types", "use_stemmer", "use_aggregator")),
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
