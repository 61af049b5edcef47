"""Corpus BLEU and chrF (sacrebleu) and ROUGE (rouge-score) for generated texts."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from nlu_toolkit.errors import UsageError

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
