"""Fine-tuning defaults per task, the accepted option values, and the result record (`FinetuneResult`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

#: The metric early stopping and "best model" use, per task (``metric`` overrides).
DEFAULT_METRIC = {
    "classification": "accuracy",
    "multilabel": "micro_f1",
    "ner": "f1",
    "qa": "f1",
    "embedding": "spearman",
    # ROUGE-L suits summaries; for translation pass metric="bleu" (or chrf).
    "seq2seq": "rougeL",
    "fewshot": "accuracy",  # micro_f1 when multi-label
}
#: Default learning rates and batch sizes, measured (benchmarks/RESULTS.md): one epoch on CoNLL-2003 at
#: batch 16 / lr 1e-4 reaches entity F1 0.884, at batch 32 / lr 5e-5 only 0.823; SST-2 (20k sentences)
#: reaches 0.872 at batch 16 and 0.866 at 32. Embedding losses with in-batch negatives want larger batches.
#: Few-shot takes SetFit's defaults for its contrastive step: lr 2e-5, batch 16, one epoch.
DEFAULT_LR = {
    "classification": 5e-5,
    "multilabel": 5e-5,
    "ner": 1e-4,
    "qa": 5e-5,
    "embedding": 2e-5,
    "seq2seq": 5e-5,
    "fewshot": 2e-5,
}
DEFAULT_BATCH_SIZE = {
    "classification": 16,
    "multilabel": 16,
    "ner": 16,
    "qa": 16,
    "embedding": 32,
    "seq2seq": 16,
    "fewshot": 16,
}
DEFAULT_EPOCHS = {"fewshot": 1.0}  # 3 for the others
#: Default token limits: sentence tasks rarely need more than 256 tokens; SQuAD-style QA uses 384-token windows;
#: seq2seq sources (documents to summarize) get 512 (targets: ``max_target_length``, 128 by default).
DEFAULT_MAX_LENGTH = {
    "classification": 256,
    "multilabel": 256,
    "ner": 256,
    "qa": 384,
    "embedding": 256,
    "seq2seq": 512,
    "fewshot": 256,
}
#: What each task reports per epoch, so ``metric`` can be checked before training rather than after the first epoch.
METRICS = {
    "classification": ("accuracy", "macro_f1", "mcc"),
    "multilabel": ("accuracy", "micro_f1", "macro_f1"),
    "ner": ("f1", "precision", "recall", "accuracy"),
    "qa": ("f1", "exact_match"),
    "embedding": ("spearman", "pearson", "mrr@10", "recall@1", "recall@10"),
    "seq2seq": ("rougeL", "rouge1", "rouge2", "bleu", "chrf"),
}
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
#: Embedding losses: for scored pairs (CoSENT, cosine MSE, AnglE) and for (anchor, positive) pairs
#: (MultipleNegativesRankingLoss, in-batch negatives).
SCORED_LOSSES = ("cosine", "cosent", "angle")
PAIR_LOSSES = ("mnrl",)
# Files the run writes into the output folder besides the model's own.
METRICS_FILE, CURVE_FILE, CARD_FILE = "metrics.json", "training_curve.png", "README.md"


@dataclass
class FinetuneResult:
    """What a run produced: where the model is, and how it scored.

    ``metrics`` are the eval figures of the kept (best) epoch, without the
    ``eval_`` prefix; ``history`` has one row per epoch.
    """

    task: str
    output_dir: Path
    base_model: str
    labels: list[str]
    metrics: dict[str, float]
    history: list[dict[str, Any]]
    metric: str | None
    best_epoch: float | None
    train_seconds: float
    train_samples_per_second: float | None
    train_rows: int
    eval_rows: int
    steps: int
    device: str
    #: The training precision (``fp32``, ``bf16``, ``fp16``), named apart from the NER ``precision`` score.
    train_precision: str
    files: dict[str, Path] = field(default_factory=dict)
    #: Early stopping (``patience``) ended the run before its last epoch: at ``stopped_at_epoch`` of ``planned_epochs``.
    stopped_early: bool = False
    stopped_at_epoch: float | None = None
    planned_epochs: float | None = None
    #: The run manifest (`nlu_toolkit.io.run_manifest`), also in ``run_manifest.json`` and ``metrics.json``.
    manifest: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["output_dir"] = str(self.output_dir)
        data["files"] = {k: str(v) for k, v in self.files.items()}
        return data
