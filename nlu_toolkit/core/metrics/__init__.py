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

from nlu_toolkit.core.metrics.classification import classification_metrics, multilabel_metrics
from nlu_toolkit.core.metrics.common import check_labels as check_labels
from nlu_toolkit.core.metrics.hub import METRIC_NAMES, Metric, load_metric
from nlu_toolkit.core.metrics.ner import ner_metrics
from nlu_toolkit.core.metrics.qa import answer_f1, normalize_answer, squad_metrics
from nlu_toolkit.core.metrics.retrieval import retrieval_metrics
from nlu_toolkit.core.metrics.seq2seq import ROUGE_TYPES as ROUGE_TYPES
from nlu_toolkit.core.metrics.seq2seq import seq2seq_metrics
from nlu_toolkit.core.metrics.sts import sts_metrics

__all__ = [
    "METRIC_NAMES",
    "Metric",
    "answer_f1",
    "classification_metrics",
    "load_metric",
    "multilabel_metrics",
    "ner_metrics",
    "normalize_answer",
    "retrieval_metrics",
    "seq2seq_metrics",
    "squad_metrics",
    "sts_metrics",
]
