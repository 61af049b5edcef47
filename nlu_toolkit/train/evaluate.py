"""Scoring a model on labelled data: `evaluate`, offline.

Predictions come from the same inference code as ``nlu classify|ner|qa|embed``
(the resolver, length-sorted batches) and ``nlu summarize`` for seq2seq, so the
figures describe what users get; the metrics are `nlu_toolkit.core.metrics`
(scikit-learn, seqeval, scipy, sacrebleu, rouge-score), not hub scripts, which
``evaluate.load`` cannot fetch offline.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Unpack

import numpy as np

from nlu_toolkit.engine.options import RunFields, RunOptions
from nlu_toolkit.errors import UsageError
from nlu_toolkit.io.run_manifest import build_manifest
from nlu_toolkit.train.data import TASKS, load_eval_data

# Figures shown first (and at the top level of JSON), per task.
HEADLINE = {
    "classification": ("accuracy", "macro_f1", "mcc"),
    "multilabel": ("accuracy", "micro_f1", "macro_f1", "hamming_loss"),
    "ner": ("precision", "recall", "f1", "accuracy", "tp", "fp", "fn"),
    "qa": ("exact_match", "f1"),
    "embedding": ("spearman", "pearson", "mrr@10", "recall@1", "recall@3", "recall@5", "recall@10", "ndcg@10"),
    "seq2seq": ("rougeL", "rouge1", "rouge2", "bleu", "chrf"),
}


@dataclass
class EvaluationResult:
    """Overall figures in ``metrics``; per-class/per-type tables etc. in ``details``; wrong predictions in ``errors``."""

    task: str
    model: str
    data: str
    n: int
    metrics: dict[str, float]
    details: dict[str, Any] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)
    #: The run manifest (`nlu_toolkit.io.run_manifest`): versions, settings, the model's and data's checksums.
    manifest: dict[str, Any] = field(default_factory=dict)
    #: The `ModelInfo` of the model scored.
    model_info: Any = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """Overall figures at the top level (``{"accuracy": ..., "f1": ...}``), then the rest (the manifest last)."""
        return {
            **self.metrics,
            "task": self.task,
            "model": self.model,
            "data": self.data,
            "n": self.n,
            "details": self.details,
            "errors": len(self.errors),
            "files": {k: str(v) for k, v in self.files.items()},
            "manifest": self.manifest,
        }


def evaluate(
    task: str,
    model: str,
    data: str | os.PathLike[str],
    *,
    threshold: float = 0.5,
    text_column: str = "text",
    text_pair_column: str | None = None,
    label_column: str = "label",
    confusion_png: str | os.PathLike[str] | None = None,
    max_target_length: int | None = None,
    run: RunOptions | None = None,
    **options: Unpack[RunFields],
) -> EvaluationResult:
    """Score ``model`` on the labelled file ``data`` for ``task``.

    - classification: accuracy, macro-F1, MCC, per-class report, confusion
      matrix (and a PNG of it with ``confusion_png``);
    - multilabel: subset accuracy, micro/macro-F1, Hamming loss (``threshold`` on sigmoid scores);
    - ner: entity-level precision/recall/F1 with TP/FP/FN, overall and per type (seqeval);
    - qa: exact match and F1 (SQuAD v1/v2), split into has-answer and no-answer;
    - embedding: Spearman/Pearson of cosine vs gold on scored pairs, or MRR@10,
      recall@k and nDCG@10 retrieving each anchor's positive among all positives;
    - seq2seq: ROUGE-1/2/L/Lsum, BLEU and chrF (fractions in [0, 1]) of what `Summarizer`
      generates for each source (``max_length`` lowers the input limit, ``max_target_length``
      caps the output; default: the model's generation config), against the target.

    ``run`` says how the model runs (`RunOptions`: device, batch size, token limit,
    trust_remote_code); its fields may also be given as keywords (``batch_size=64``). Scoring
    runs on torch: another ``backend``, or ``threads``, is refused.

    Raises:
        TrainingDataError: the data is unusable, or has labels the model does not know.
        ModelNotAvailable, UsageError: as for the inference commands.
        OutputError: ``confusion_png`` is not a ``.png`` path, is the data file, or cannot be written.
    """
    from nlu_toolkit.tasks.common import check_positive

    run = RunOptions.merge(run, **options)
    if task not in TASKS:
        raise UsageError(f"unknown task {task!r}", f"use {{=task}} {'|'.join(TASKS)}")
    if run.backend != "torch" or run.threads is not None:
        raise UsageError(
            "evaluate scores with torch: it takes no {=backend} or {=threads}",
            "leave {=backend} and {=threads} out",
        )
    check_positive("max_target_length", max_target_length)
    if confusion_png is not None:  # checked before any work: the plot is always a PNG
        if task != "classification":
            raise UsageError("{=confusion_png} is for {=task} classification", "drop it")
        from nlu_toolkit.io.guard import check_output_file

        check_output_file(confusion_png, [data], what="{=confusion_png}", suffixes=(".png",))
    columns = {"text_column": text_column, "text_pair_column": text_pair_column, "label_column": label_column}
    scorer = {
        "classification": _classification,
        "multilabel": _classification,
        "ner": _ner,
        "qa": _qa,
        "embedding": _embedding,
        "seq2seq": _seq2seq,
    }[task]
    result = scorer(
        task,
        model,
        Path(data),
        columns,
        run=run,
        threshold=threshold,
        max_target_length=max_target_length,
    )
    if confusion_png is not None:
        from nlu_toolkit.io.plots import plot_confusion_matrix

        result.files["confusion"] = plot_confusion_matrix(
            result.details["confusion"], result.details["labels"], confusion_png
        )
    result.manifest = build_manifest(
        "evaluate",
        settings={
            "task": task,
            "model": model,
            "data": data,
            "threshold": threshold,
            **columns,
            "max_target_length": max_target_length,
            **asdict(run),
        },
        model=None if result.model_info is None else result.model_info.to_dict(),
        inputs=[data],
        outputs=[p for p in (confusion_png,) if p is not None],
    )
    return result


def _split(found: dict[str, Any], task: str) -> tuple[dict[str, float], dict[str, Any]]:
    metrics = {k: found[k] for k in HEADLINE[task] if k in found}
    details = {k: v for k, v in found.items() if k not in metrics}
    return metrics, details


def _model_labels(loaded: Any) -> list[str]:
    config = loaded.model.config
    return [str(config.id2label[i]) for i in range(config.num_labels)]


def _classification(task: str, model: str, path: Path, columns: dict, **opts: Any) -> EvaluationResult:
    from nlu_toolkit.core.metrics import classification_metrics, multilabel_metrics
    from nlu_toolkit.core.pooling import sigmoid
    from nlu_toolkit.engine.batching import run_sorted, tokenize_windows
    from nlu_toolkit.models.resolver import load_model
    from nlu_toolkit.tasks.common import token_limit, torch_forward

    run: RunOptions = opts["run"]
    from nlu_toolkit.tasks.classify import Classifier, head_folder

    head_path = head_folder(model)
    if head_path is not None:  # an encoder and a linear head (nlu finetune --task fewshot, or a static base)
        classifier = Classifier(head_path, multi_label=task == "multilabel", run=run)
        labels, model_info = classifier.labels, classifier.model_info
        ds, info = load_eval_data(task, path, labels=labels, **columns)
        if "text_pair" in ds.column_names:
            raise UsageError("this classifier scores single texts: it takes no {=text_pair_column}", "drop it")
        texts = list(ds["text"])
        scores, truncated = classifier.score(texts)
    else:
        loaded = load_model(model, "text-classification", device=run.device, trust_remote_code=run.trust_remote_code)
        labels, model_info = _model_labels(loaded), loaded.info
        ds, info = load_eval_data(task, path, labels=labels, **columns)
        texts = list(ds["text"])
        pairs = list(ds["text_pair"]) if "text_pair" in ds.column_names else None
        tok = loaded.tokenizer
        limit = token_limit(tok, loaded.model, run.max_length)
        features, _, truncated = tokenize_windows(tok, texts, pairs, limit=limit, all_windows=False)
        forward = torch_forward(loaded.model, loaded.info.device, lambda out: out.logits)
        logits = np.stack(run_sorted(features, forward, batch_size=run.batch_size, pad_id=tok.pad_token_id or 0))
        scores = sigmoid(logits) if task == "multilabel" else logits  # single-label: only the argmax matters
    gold = ds["label"]
    errors: list[dict[str, Any]] = []
    if task == "multilabel":
        predicted = scores >= opts["threshold"]
        truth = np.asarray(gold, dtype=np.float32) > 0.5
        found = multilabel_metrics(truth, predicted, labels)
        for i in np.flatnonzero((predicted != truth).any(axis=1)):
            errors.append(
                {
                    "row": int(i),
                    "text": texts[i],
                    "gold": [labels[j] for j in np.flatnonzero(truth[i])],
                    "predicted": [labels[j] for j in np.flatnonzero(predicted[i])],
                }
            )
    else:
        predicted = scores.argmax(axis=1)
        found = classification_metrics(list(gold), predicted.tolist(), labels)
        for i in np.flatnonzero(predicted != np.asarray(gold)):
            errors.append(
                {"row": int(i), "text": texts[i], "gold": labels[gold[i]], "predicted": labels[int(predicted[i])]}
            )
    metrics, details = _split(found, task)
    details["truncated"] = int(sum(truncated))
    details["warnings"] = info.get("warnings", [])
    return EvaluationResult(
        task, model_info.describe(), str(path), len(texts), metrics, details, errors, model_info=model_info
    )


def _ner(task: str, model: str, path: Path, columns: dict, **opts: Any) -> EvaluationResult:
    from nlu_toolkit.core.metrics import ner_metrics
    from nlu_toolkit.engine.batching import run_sorted
    from nlu_toolkit.models.resolver import load_model
    from nlu_toolkit.tasks.common import token_limit, torch_forward

    run: RunOptions = opts["run"]
    loaded = load_model(model, "token-classification", device=run.device, trust_remote_code=run.trust_remote_code)
    labels = _model_labels(loaded)
    ds, info = load_eval_data(task, path, labels=labels, **columns)
    sentences = list(ds["tokens"])
    gold = [[labels[t] for t in tags] for tags in ds["tags"]]
    tok = loaded.tokenizer
    limit = token_limit(tok, loaded.model, run.max_length)
    enc = tok(sentences, is_split_into_words=True, truncation=True, max_length=limit)
    keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc]
    features = [{k: enc[k][i] for k in keys} for i in range(len(sentences))]
    forward = torch_forward(loaded.model, loaded.info.device, lambda out: out.logits)
    logits = run_sorted(features, forward, batch_size=run.batch_size, pad_id=tok.pad_token_id or 0)
    predicted: list[list[str]] = []
    truncated = 0
    for i, words in enumerate(sentences):
        # Each word takes the label of its first sub-token, as in training; words cut off by the limit get "O".
        tags = ["O"] * len(words)
        seen = set()
        ids = logits[i][: len(features[i]["input_ids"])].argmax(axis=-1)
        for position, word in enumerate(enc.word_ids(i)):
            if word is not None and word not in seen:
                seen.add(word)
                tags[word] = labels[int(ids[position])]
        truncated += len(seen) < len(words)
        predicted.append(tags)
    found = ner_metrics(gold, predicted)
    errors = [
        {"row": i, "tokens": words, "gold": g, "predicted": p}
        for i, (words, g, p) in enumerate(zip(sentences, gold, predicted, strict=True))
        if g != p
    ]
    metrics, details = _split(found, task)
    details["truncated"] = truncated
    details["warnings"] = info.get("warnings", [])
    return EvaluationResult(
        task, loaded.info.describe(), str(path), len(sentences), metrics, details, errors, model_info=loaded.info
    )


def _qa(task: str, model: str, path: Path, columns: dict, **opts: Any) -> EvaluationResult:
    from nlu_toolkit.core.metrics import normalize_answer, squad_metrics
    from nlu_toolkit.tasks.qa import QuestionAnswerer

    ds, info = load_eval_data(task, path)
    rows = ds.to_list()
    allow_impossible = any(not r["answers"]["text"] for r in rows)
    run: RunOptions = opts["run"]
    answerer = QuestionAnswerer(
        model,
        max_length=run.max_length or 384,
        allow_impossible=allow_impossible,
        batch_size=run.batch_size,
        device=run.device,
        trust_remote_code=run.trust_remote_code,
    )
    predictions: dict[str, str] = {}
    for row, answer in zip(rows, answerer.predict(rows), strict=True):
        predictions[row["id"]] = answer.answer or ""
    references = {r["id"]: list(r["answers"]["text"]) for r in rows}
    found = squad_metrics(predictions, references)
    errors = []
    for r in rows:
        said, golds = predictions[r["id"]], references[r["id"]]
        right = normalize_answer(said) in {normalize_answer(g) for g in golds} if golds else not normalize_answer(said)
        if not right:
            errors.append({"id": r["id"], "question": r["question"], "gold": golds, "predicted": said})
    metrics, details = _split(found, task)
    details["warnings"] = info.get("warnings", [])
    info = answerer.model_info
    return EvaluationResult(task, info.describe(), str(path), len(rows), metrics, details, errors, model_info=info)


def _embedding(task: str, model: str, path: Path, columns: dict, **opts: Any) -> EvaluationResult:
    from nlu_toolkit.core.metrics import retrieval_metrics, sts_metrics
    from nlu_toolkit.tasks.embed import Embedder

    ds, info = load_eval_data(task, path, **columns)
    embedder = Embedder(model, normalize=True, run=opts["run"])
    errors: list[dict[str, Any]] = []
    if "score" in ds.column_names:
        a, _ = embedder.encode(ds["sentence1"])
        b, _ = embedder.encode(ds["sentence2"])
        cosine = (a * b).sum(axis=1)
        gold = np.asarray(ds["score"], dtype=np.float64)
        found = sts_metrics(gold.tolist(), cosine.tolist())
        # The worst-ranked pairs: largest gap between gold and predicted rank, as a fraction of n.
        from scipy.stats import rankdata

        gap = np.abs(rankdata(gold) - rankdata(cosine)) / len(gold)
        for i in np.argsort(-gap)[: max(1, len(gold) // 10)]:
            errors.append(
                {
                    "row": int(i),
                    "sentence1": ds["sentence1"][i],
                    "sentence2": ds["sentence2"][i],
                    "gold": float(gold[i]),
                    "cosine": float(cosine[i]),
                }
            )
    else:
        anchors, positives = list(ds["anchor"]), list(ds["positive"])
        docs = list(dict.fromkeys(positives))  # one document per distinct positive
        where = {d: i for i, d in enumerate(docs)}
        q, _ = embedder.encode(anchors)
        d, _ = embedder.encode(docs)
        scores = q @ d.T
        relevant = [{where[p]} for p in positives]
        found = retrieval_metrics(scores, relevant)
        top = scores.argmax(axis=1)
        for i in np.flatnonzero(top != np.array([where[p] for p in positives])):
            errors.append({"row": int(i), "anchor": anchors[i], "gold": positives[i], "predicted": docs[int(top[i])]})
    metrics, details = _split(found, task)
    details["warnings"] = info.get("warnings", [])
    info = embedder.model_info
    return EvaluationResult(task, info.describe(), str(path), len(ds), metrics, details, errors, model_info=info)


def _seq2seq(task: str, model: str, path: Path, columns: dict, **opts: Any) -> EvaluationResult:
    from nlu_toolkit.core.metrics import seq2seq_metrics
    from nlu_toolkit.tasks.generate import Summarizer

    ds, info = load_eval_data(task, path, **columns)
    # The inference path of `nlu summarize` / `nlu translate`: long sources are chunked at sentences, not cut.
    run: RunOptions = opts["run"]
    summarizer = Summarizer(
        model,
        max_length=opts["max_target_length"],
        max_input_length=run.max_length,
        batch_size=run.batch_size,
        device=run.device,
        trust_remote_code=run.trust_remote_code,
    )
    # A model fine-tuned with source_prefix ("summarize: ") records it in its config; Summarizer applies it.
    prefix = summarizer.prefix
    sources, references = list(ds["source"]), list(ds["target"])
    records = [{"id": i, "text": text} for i, text in enumerate(sources)]
    outputs = list(summarizer.predict(records))
    predictions = [out.output for out in outputs]
    found = seq2seq_metrics(predictions, references)
    errors = [
        {"row": i, "source": source, "reference": reference, "prediction": prediction}
        for i, (source, reference, prediction) in enumerate(zip(sources, references, predictions, strict=True))
        if prediction.strip() != reference.strip()
    ]
    metrics, details = _split(found, task)
    details.pop("n", None)
    details["chunked"] = sum(out.chunks > 1 for out in outputs)
    if prefix:
        details["source_prefix"] = prefix
    details["warnings"] = info.get("warnings", [])
    info = summarizer.model_info
    return EvaluationResult(task, info.describe(), str(path), len(sources), metrics, details, errors, model_info=info)
