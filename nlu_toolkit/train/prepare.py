"""Per-task tokenization and metrics for fine-tuning: one `_Prep` class per task (classification, multi-label,
NER, QA, seq2seq) turns rows into features and predictions into the task's metrics."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from nlu_toolkit.errors import TrainingDataError
from nlu_toolkit.train.args import METRICS


class _Prep:
    """How one task turns rows into features, and predictions into metrics."""

    eval_only_columns: tuple[str, ...] = ()

    def __init__(self, tokenizer: Any, max_length: int, labels: list[str]) -> None:
        from transformers import DataCollatorWithPadding

        self.tokenizer, self.max_length, self.labels = tokenizer, max_length, labels
        self.collator = DataCollatorWithPadding(tokenizer)

    def encode_eval(self, batch: dict[str, list], indices: list[int]) -> dict[str, list]:
        return self.encode(batch)

    def texts(self, batch: dict[str, list]) -> dict[str, Any]:
        args = (batch["text"], batch["text_pair"]) if "text_pair" in batch else (batch["text"],)
        return self.tokenizer(*args, truncation=True, max_length=self.max_length)

    def encode(self, batch: dict[str, list]) -> dict[str, list]:
        enc = self.texts(batch)
        enc["labels"] = batch["label"]
        return dict(enc)

    def metrics_for(self, eval_rows: Any, eval_features: Any) -> Callable[[Any], dict[str, float]]:
        raise NotImplementedError


class _ClassificationPrep(_Prep):
    def metrics_for(self, eval_rows: Any, eval_features: Any) -> Callable[[Any], dict[str, float]]:
        from nlu_toolkit.core.metrics import classification_metrics

        def compute(pred: Any) -> dict[str, float]:
            logits = pred.predictions[0] if isinstance(pred.predictions, tuple) else pred.predictions
            found = classification_metrics(
                np.asarray(pred.label_ids).tolist(), np.argmax(logits, axis=-1).tolist(), self.labels
            )
            return {k: found[k] for k in ("accuracy", "macro_f1", "mcc")}

        return compute


class _MultilabelPrep(_Prep):
    def metrics_for(self, eval_rows: Any, eval_features: Any) -> Callable[[Any], dict[str, float]]:
        from nlu_toolkit.core.metrics import multilabel_metrics

        def compute(pred: Any) -> dict[str, float]:
            logits = pred.predictions[0] if isinstance(pred.predictions, tuple) else pred.predictions
            found = multilabel_metrics(np.asarray(pred.label_ids) > 0.5, np.asarray(logits) > 0.0, self.labels)
            return {k: found[k] for k in ("accuracy", "micro_f1", "macro_f1")}

        return compute


class _NerPrep(_Prep):
    """Labels on each word's first sub-token; other sub-tokens and specials get -100 (ignored)."""

    def __init__(self, tokenizer: Any, max_length: int, labels: list[str]) -> None:
        from transformers import DataCollatorForTokenClassification

        super().__init__(tokenizer, max_length, labels)
        self.collator = DataCollatorForTokenClassification(tokenizer)

    def encode(self, batch: dict[str, list]) -> dict[str, list]:
        enc = self.tokenizer(batch["tokens"], is_split_into_words=True, truncation=True, max_length=self.max_length)
        all_labels = []
        for i, tags in enumerate(batch["tags"]):
            previous = None
            row = []
            for word in enc.word_ids(i):
                row.append(-100 if word is None or word == previous else tags[word])
                previous = word
            all_labels.append(row)
        enc["labels"] = all_labels
        return dict(enc)

    def metrics_for(self, eval_rows: Any, eval_features: Any) -> Callable[[Any], dict[str, float]]:
        from nlu_toolkit.core.metrics import ner_metrics

        gold = [[self.labels[t] for t in tags] for tags in eval_rows["tags"]]

        def compute(pred: Any) -> dict[str, float]:
            logits = pred.predictions[0] if isinstance(pred.predictions, tuple) else pred.predictions
            ids = np.argmax(logits, axis=-1)
            predicted = []
            for row_ids, row_labels in zip(ids, pred.label_ids, strict=True):
                predicted.append([self.labels[p] for p, g in zip(row_ids, row_labels, strict=False) if g != -100])
            # Words cut off by max_length have no prediction: count them as "O" against the full gold sequence.
            truth = gold if len(gold) == len(predicted) else gold[: len(predicted)]
            padded = [p + ["O"] * (len(t) - len(p)) for p, t in zip(predicted, truth, strict=True)]
            found = ner_metrics(truth, padded)
            return {k: found[k] for k in ("precision", "recall", "f1", "accuracy")}

        return compute


class _QaPrep(_Prep):
    """SQuAD-style windows: a long context becomes several features of ``max_length`` tokens."""

    eval_only_columns = ("example_index", "offset_mapping")

    def __init__(self, tokenizer: Any, max_length: int, labels: list[str]) -> None:
        super().__init__(tokenizer, max_length, labels)
        self.stride = min(128, max_length // 4)

    def windows(self, batch: dict[str, list]) -> Any:
        questions = [q.strip() for q in batch["question"]]
        # A question that leaves no more room than the stride makes the Rust tokenizer panic; say which one.
        specials = self.tokenizer.num_special_tokens_to_add(pair=True)
        for qid, ids in zip(batch["id"], self.tokenizer(questions, add_special_tokens=False)["input_ids"], strict=True):
            if self.max_length - specials - len(ids) <= self.stride:
                raise TrainingDataError(
                    f"question {qid!r} is too long: {len(ids)} tokens leave no room for the context "
                    f"under {{=max_length}} {self.max_length}",
                    "raise {=max_length} or shorten the question",
                )
        try:
            return self.tokenizer(
                questions,
                batch["context"],
                truncation="only_second",
                max_length=self.max_length,
                stride=self.stride,
                return_overflowing_tokens=True,
                return_offsets_mapping=True,
            )
        except Exception as e:  # the Rust tokenizer refuses questions that leave no room for the context
            raise TrainingDataError(
                f"a question is too long for {{=max_length}} {self.max_length}: {e}", "raise {=max_length}"
            ) from e

    def encode(self, batch: dict[str, list]) -> dict[str, list]:
        return self.features(batch, None)

    def encode_eval(self, batch: dict[str, list], indices: list[int]) -> dict[str, list]:
        return self.features(batch, indices)

    def features(self, batch: dict[str, list], indices: list[int] | None) -> dict[str, list]:
        """Windows with start/end token labels; for eval also each window's question row and context offsets."""
        enc = self.windows(batch)
        starts, ends, context_offsets = [], [], []
        for w, offsets in enumerate(enc["offset_mapping"]):
            answers = batch["answers"][enc["overflow_to_sample_mapping"][w]]
            seq = enc.sequence_ids(w)
            ctx = [i for i, s in enumerate(seq) if s == 1]
            if indices is not None:  # offsets of context tokens only, so decoding cannot pick the question
                context_offsets.append([list(o) if s == 1 else None for o, s in zip(offsets, seq, strict=True)])
            start = end = 0  # the CLS token: "no answer (in this window)"
            if answers["text"] and ctx:
                a_start = answers["answer_start"][0]
                a_end = a_start + len(answers["text"][0])
                if offsets[ctx[0]][0] <= a_start and offsets[ctx[-1]][1] >= a_end:
                    start = next(i for i in ctx if offsets[i][1] > a_start)
                    end = next(i for i in reversed(ctx) if offsets[i][0] < a_end)
            starts.append(start)
            ends.append(end)
        samples = enc.pop("overflow_to_sample_mapping")
        enc.pop("offset_mapping")
        enc["start_positions"], enc["end_positions"] = starts, ends
        if indices is not None:
            enc["example_index"] = [indices[s] for s in samples]
            enc["offset_mapping"] = context_offsets
        return dict(enc)

    def metrics_for(self, eval_rows: Any, eval_features: Any) -> Callable[[Any], dict[str, float]]:
        from nlu_toolkit.core.metrics import squad_metrics
        from nlu_toolkit.core.qa import decode_window

        examples = eval_rows
        feature_examples = eval_features["example_index"]
        feature_offsets = eval_features["offset_mapping"]
        lengths = [len(ids) for ids in eval_features["input_ids"]]
        allow_impossible = any(not a["text"] for a in examples["answers"])

        def compute(pred: Any) -> dict[str, float]:
            start_logits, end_logits = pred.predictions[:2]
            best: dict[int, tuple[float, str]] = {}
            null: dict[int, float] = {}
            for f, example in enumerate(feature_examples):
                n = lengths[f]
                mask = np.array([o is not None for o in feature_offsets[f]])
                spans, null_score = decode_window(
                    np.asarray(start_logits[f][:n], dtype=np.float64),
                    np.asarray(end_logits[f][:n], dtype=np.float64),
                    mask,
                    max_answer_len=30,
                    top_k=1,
                )
                null[example] = min(null.get(example, 1.0), null_score)
                for span in spans:
                    a, b = feature_offsets[f][span.start_token][0], feature_offsets[f][span.end_token][1]
                    if example not in best or span.score > best[example][0]:
                        best[example] = (span.score, examples["context"][example][a:b])
            predictions, references = {}, {}
            for i, (qid, answers) in enumerate(zip(examples["id"], examples["answers"], strict=True)):
                score, text = best.get(i, (0.0, ""))
                if allow_impossible and null.get(i, 1.0) > score:
                    text = ""
                predictions[qid] = text
                references[qid] = list(answers["text"])
            found = squad_metrics(predictions, references)
            return {"exact_match": found["exact_match"], "f1": found["f1"]}

        return compute


class _Seq2SeqPrep(_Prep):
    """Sources (with the prefix) as inputs, target token ids as labels; the collator pads labels with -100."""

    def __init__(
        self,
        tokenizer: Any,
        max_length: int,
        labels: list[str],
        *,
        model: Any,
        max_target_length: int,
        source_prefix: str | None,
    ) -> None:
        from transformers import DataCollatorForSeq2Seq

        self.tokenizer, self.max_length, self.labels = tokenizer, max_length, labels
        self.max_target_length, self.prefix = max_target_length, source_prefix or ""
        # With the model, the collator also builds decoder_input_ids (labels shifted right).
        self.collator = DataCollatorForSeq2Seq(tokenizer, model=model)

    def encode(self, batch: dict[str, list]) -> dict[str, list]:
        sources = [self.prefix + text for text in batch["source"]] if self.prefix else batch["source"]
        enc = self.tokenizer(sources, truncation=True, max_length=self.max_length)
        targets = self.tokenizer(text_target=batch["target"], truncation=True, max_length=self.max_target_length)
        enc["labels"] = targets["input_ids"]
        return dict(enc)

    def metrics_for(self, eval_rows: Any, eval_features: Any) -> Callable[[Any], dict[str, float]]:
        from nlu_toolkit.core.metrics import seq2seq_metrics

        tok = self.tokenizer
        pad = tok.pad_token_id if tok.pad_token_id is not None else (tok.eos_token_id or 0)

        def compute(pred: Any) -> dict[str, float]:
            generated = pred.predictions[0] if isinstance(pred.predictions, tuple) else pred.predictions
            # -100 marks padding added when batches were gathered (and the labels' ignored positions).
            generated = np.where(np.asarray(generated) != -100, generated, pad)
            gold = np.where(np.asarray(pred.label_ids) != -100, pred.label_ids, pad)
            predictions = [t.strip() for t in tok.batch_decode(generated, skip_special_tokens=True)]
            references = [t.strip() for t in tok.batch_decode(gold, skip_special_tokens=True)]
            found = seq2seq_metrics(predictions, references)
            return {k: found[k] for k in METRICS["seq2seq"]}

        return compute


def _generation_limit(model: Any, limit: int) -> None:
    """Generate up to ``limit`` tokens, in evaluation and from the saved folder (``nlu summarize --model DIR``).

    Base configs often keep the library default of 20 tokens (t5-small), which would cut summaries short.
    """
    generation = getattr(model, "generation_config", None)
    if generation is None:
        return
    generation.max_length = limit
    generation.max_new_tokens = None  # it would override max_length
    if isinstance(generation.min_length, int) and generation.min_length > limit:
        generation.min_length = limit


_TASK_PREP: dict[str, type[_Prep]] = {
    "classification": _ClassificationPrep,
    "multilabel": _MultilabelPrep,
    "ner": _NerPrep,
    "qa": _QaPrep,
}
