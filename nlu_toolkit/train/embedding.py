"""Fine-tuning sentence embeddings on ``SentenceTransformerTrainer``: the loss, the evaluator, the run."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nlu_toolkit.errors import UsageError
from nlu_toolkit.models.quiet import quiet_sentence_transformers
from nlu_toolkit.train.args import PAIR_LOSSES, SCORED_LOSSES, FinetuneResult
from nlu_toolkit.train.parts import _save_atomically

if TYPE_CHECKING:
    from nlu_toolkit.train.driver import _Run


def train_embedding(run: _Run) -> FinetuneResult:
    """Train a sentence-transformers model on scored pairs or (anchor, positive) pairs; `_Run` does the rest."""
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.sentence_transformer import losses

    kind = run.data.info.get("pair_kind", "scored")
    model = SentenceTransformer(
        run.base["path"],
        device=run.device,
        trust_remote_code=run.trust_remote_code,
        model_kwargs={"use_safetensors": True},
    )
    if run.max_length:
        model.max_seq_length = run.max_length
    run.settings["max_length"] = model.max_seq_length
    # Cosine MSE, not CoSENT, by default: continuing all-MiniLM-L6-v2 on STS-B train for one epoch moved
    # dev Spearman 0.867 -> 0.891 with it, but down to 0.853 with CoSENT (benchmarks/RESULTS.md).
    name = run.loss or ("cosine" if kind == "scored" else "mnrl")
    if (name in SCORED_LOSSES) != (kind == "scored"):
        fits = ", ".join(SCORED_LOSSES if kind == "scored" else PAIR_LOSSES)
        raise UsageError(f"{{=loss}} {name} does not fit {kind} pairs", f"use one of: {fits}")
    loss = {
        "cosent": losses.CoSENTLoss,
        "cosine": losses.CosineSimilarityLoss,
        "angle": losses.AnglELoss,
        "mnrl": losses.MultipleNegativesRankingLoss,
    }[name](model)
    run.settings["loss"] = type(loss).__name__
    evaluator, aliases = None, {}
    if run.data.eval is not None:
        evaluator, aliases = _embedding_evaluator(run.data.eval, kind)
    run.aliases = aliases
    extra: dict[str, Any] = {}
    if kind != "scored":
        extra["batch_sampler"] = "no_duplicates"  # a duplicate in a batch would be a false negative
    args = run.training_arguments(SentenceTransformerTrainingArguments, **extra)
    if evaluator is not None:
        # The evaluator reports e.g. eval_sts_spearman_cosine; the user names it "spearman".
        full = {v: k for k, v in aliases.items()}.get(run.settings["metric"], run.settings["metric"])
        args.metric_for_best_model = full if full.startswith("eval_") else f"eval_{full}"
    # The trainer's model-card callback and the save draw sentence-transformers' own bar ("Computing widget
    # examples"), which the libraries' switches do not reach.
    with quiet_sentence_transformers():
        trainer = SentenceTransformerTrainer(
            model=model,
            args=args,
            train_dataset=run.data.train,
            eval_dataset=run.data.eval,
            loss=loss,
            evaluator=evaluator,
            callbacks=run.callbacks(),
        )
        seconds, sps = run.fit(trainer)
        return run.finish(trainer, [], seconds, sps, lambda out: _save_atomically(out, model.save_pretrained))


def _embedding_evaluator(eval_ds: Any, kind: str) -> tuple[Any, dict[str, str]]:
    """A sentence-transformers evaluator for the eval data, and our short names for its metric keys."""
    from sentence_transformers.sentence_transformer.evaluation import (
        EmbeddingSimilarityEvaluator,
        InformationRetrievalEvaluator,
    )

    if kind == "scored":
        evaluator = EmbeddingSimilarityEvaluator(
            eval_ds["sentence1"], eval_ds["sentence2"], eval_ds["score"], name="sts", show_progress_bar=False
        )
        return evaluator, {"sts_spearman_cosine": "spearman", "sts_pearson_cosine": "pearson"}
    queries = {str(i): q for i, q in enumerate(eval_ds["anchor"])}
    docs = {str(i): d for i, d in enumerate(eval_ds["positive"])}
    relevant = {str(i): {str(i)} for i in range(len(eval_ds))}
    evaluator = InformationRetrievalEvaluator(
        queries, docs, relevant, name="ir", show_progress_bar=False, mrr_at_k=[10], accuracy_at_k=[1, 3, 5, 10]
    )
    return evaluator, {
        "ir_cosine_mrr@10": "mrr@10",
        "ir_cosine_recall@1": "recall@1",
        "ir_cosine_recall@10": "recall@10",
    }
