"""Text classification: supervised heads, NLI zero-shot and embedding zero-shot.

Three scorers share one path: tokenize a window of texts once (with overflow
windows), run length-sorted batches, pool windows back to one row per text and
turn the rows into `Classification` records.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from nlu_toolkit.core.pooling import pool_windows, sigmoid, softmax
from nlu_toolkit.engine.batching import WINDOW, chunked, run_sorted, tokenize_windows
from nlu_toolkit.engine.options import RunFields, RunOptions
from nlu_toolkit.engine.probe import PROBE_SENTENCES
from nlu_toolkit.errors import InputError, NluError, UsageError
from nlu_toolkit.io.readers import check_text
from nlu_toolkit.models.head import LinearHead, has_head, has_pickled_head, load_head, refuse_pickled_head
from nlu_toolkit.models.resolver import LoadedModel, ModelInfo, is_sentence_transformer, load_model, locate
from nlu_toolkit.records import Classification, LabelScore
from nlu_toolkit.tasks.common import (
    Inputs,
    as_records,
    check_positive,
    check_stride,
    long_mode,
    passthrough,
    token_limit,
    torch_forward,
)
from nlu_toolkit.tasks.embed import Embedder

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing.Unpack is Python 3.11+

#: The default zero-shot hypothesis. Measured with the embedded all-MiniLM-L6-v2 (embedding zero-shot,
#: labels positive/negative) on SST-2 dev, all 872 sentences (first 300 in brackets): "This text is {}."
#: 0.687 (0.667), the old "This example is {}." 0.635 (0.657), "This is {}." 0.662 (0.640), "{}" 0.643
#: (0.647), "This text is about {}." 0.662 (0.647); on 2,000 SST-2 train sentences of 8+ words: 0.651 vs
#: 0.634. Sentiment-worded templates score higher on SST-2 ("The sentiment is {}." 0.721) but are no
#: default for topic labels. On topics (the sample reviews and tickets) it ties or beats the old one.
DEFAULT_TEMPLATE = "This text is {}."
#: Cosine similarities are scaled by this before the softmax in embedding
#: zero-shot: the scale MiniLM-style models are trained with
#: (MultipleNegativesRankingLoss), so the probabilities are neither flat nor one-hot.
EMBEDDING_SCALE = 20.0
#: Default multi-label thresholds: on probabilities, and on raw cosine similarity.
THRESHOLD = 0.5
COSINE_THRESHOLD = 0.1


def parse_labels(labels: str | Sequence[str] | None) -> list[str] | None:
    """Split ``"a,b,c"`` (or take a list), strip, and refuse empty, repeated or invalid labels.

    A label that is not a string, or holds a lone surrogate, is an `InputError` naming it
    (``label 3 ...``, counted from 1 as given).
    """
    if labels is None:
        return None
    raw = labels.split(",") if isinstance(labels, str) else list(labels)
    for i, label in enumerate(raw, 1):
        if not isinstance(label, str):
            raise InputError(f"label {i} is not a string but {type(label).__name__}", "give the labels as strings")
        check_text(label, None, what=f"label {i}")
    items = [x.strip() for x in raw]
    items = [x for x in items if x]
    if len(items) < 1:
        raise UsageError("{=labels} is empty", "give labels separated by commas, e.g. {=labels}=sports,politics")
    if len(set(items)) != len(items):
        raise UsageError("{=labels} repeats a label", "give each label once")
    return items


def check_template(template: str) -> None:
    """Refuse a hypothesis template that is not a valid string with one ``{}`` for the label."""
    if not isinstance(template, str):
        raise UsageError("{=hypothesis_template} must be a string", 'use e.g. "This text is {}."')
    check_text(template, None, what="hypothesis_template")
    try:
        filled = template.format("\x00")
    except (AttributeError, IndexError, KeyError, TypeError, ValueError) as e:  # "{} {}", "{name}", "{"
        raise UsageError(
            f"{{=hypothesis_template}} {template!r} is not a valid template ({type(e).__name__}: {e})",
            'use one {} for the label and write a literal brace as {{ or }}, e.g. "This text is {}."',
        ) from None
    if "\x00" not in filled:  # no {} at all, or only the escaped {{}}
        raise UsageError("{=hypothesis_template} has no {} for the label", 'use e.g. "This text is {}."')


class _Scorer:
    """Scores a window of texts: ``(n_texts, n_labels)`` scores and per-text truncation flags."""

    cosine: bool = False  # scores are cosine similarities, not probabilities
    runtime: str = "torch"
    runtime_warning: str | None = None

    def _select(self, head_probe: list[dict[str, Any]], task: str, run: dict[str, Any]) -> Any:
        """The checked forward pass on the asked-for backend (see `runtime.select_forward`)."""
        from nlu_toolkit.engine.runtime import select_forward

        pad_id = self.loaded.tokenizer.pad_token_id or 0
        fwd = torch_forward(
            self.loaded.model, self.loaded.info.device, lambda out: out.logits, probe=head_probe, pad_id=pad_id
        )
        chosen = select_forward(self.loaded, "sequence-classification", fwd, task=task, probe=head_probe, **run)
        self.runtime, self.runtime_warning = chosen.name, chosen.warning
        return chosen.forward

    def __init__(
        self,
        loaded: LoadedModel,
        labels: list[str],
        multi_label: bool,
        long: str,
        batch_size: int,
        stride: int | None = None,
    ):
        self.loaded, self.labels, self.multi_label = loaded, labels, multi_label
        self.long, self.batch_size, self.stride = long, batch_size, stride

    def score(self, texts: list[str]) -> tuple[np.ndarray, list[bool]]:  # pragma: no cover - interface
        raise NotImplementedError


class _SupervisedScorer(_Scorer):
    def __init__(
        self,
        loaded: LoadedModel,
        multi_label: bool,
        long: str,
        max_length: int | None,
        batch_size: int,
        run: dict[str, Any],
        stride: int | None = None,
    ):
        config = loaded.model.config
        labels = [str(config.id2label[i]) for i in range(config.num_labels)]
        super().__init__(loaded, labels, multi_label, long, batch_size, stride)
        self.limit = token_limit(loaded.tokenizer, loaded.model, max_length)
        check_stride(stride, self.limit - loaded.tokenizer.num_special_tokens_to_add())
        probe, _, _ = tokenize_windows(loaded.tokenizer, PROBE_SENTENCES, limit=self.limit, all_windows=False)
        self.forward = self._select(probe, "classify", run)

    def score(self, texts: list[str]) -> tuple[np.ndarray, list[bool]]:
        tok = self.loaded.tokenizer
        features, sample_of, truncated = tokenize_windows(
            tok, texts, limit=self.limit, all_windows=self.long == "chunk", stride=self.stride
        )
        logits = np.stack(run_sorted(features, self.forward, batch_size=self.batch_size, pad_id=tok.pad_token_id or 0))
        probs = sigmoid(logits) if self.multi_label else softmax(logits)
        weights = [len(f["input_ids"]) for f in features]
        pooled = pool_windows(probs, sample_of, len(texts), weights)
        return pooled, [t and self.long == "truncate" for t in truncated]


class _NliScorer(_Scorer):
    def __init__(
        self,
        loaded: LoadedModel,
        labels: list[str],
        template: str,
        multi_label: bool,
        long: str,
        max_length: int | None,
        batch_size: int,
        run: dict[str, Any],
        stride: int | None = None,
    ):
        super().__init__(loaded, labels, multi_label, long, batch_size, stride)
        self.hypotheses = [template.format(label) for label in labels]
        names = {str(v).lower(): int(k) for k, v in loaded.model.config.id2label.items()}
        self.entail = next(i for n, i in names.items() if n.startswith("entail"))
        self.contra = next((i for n, i in names.items() if n.startswith("contra")), None)
        self.limit = token_limit(loaded.tokenizer, loaded.model, max_length)
        # The text shares each window with a hypothesis; check the text keeps room (more than the stride).
        tok = loaded.tokenizer
        longest = max(len(ids) for ids in tok(self.hypotheses, add_special_tokens=False)["input_ids"])
        room = self.limit - tok.num_special_tokens_to_add(pair=True) - longest
        step = (self.limit // 4 if stride is None else stride) if long == "chunk" else 0
        if room <= step:
            raise UsageError(
                f"the hypotheses take {longest} tokens, leaving {max(room, 0)} for the text under "
                f"{{=max_length}} {self.limit}" + ("" if stride is None else f" with {{=stride}} {stride}"),
                "raise {=max_length}, or shorten {=hypothesis_template} or the {=labels}"
                + ("" if stride is None else ", or lower {=stride}"),
            )
        pairs = [(t, h) for t in PROBE_SENTENCES[:8] for h in self.hypotheses[:2]]
        probe, _, _ = tokenize_windows(
            tok, [a for a, _ in pairs], [b for _, b in pairs], limit=self.limit, all_windows=False
        )
        self.forward = self._select(probe, "classify", run)

    def score(self, texts: list[str]) -> tuple[np.ndarray, list[bool]]:
        tok, n_labels = self.loaded.tokenizer, len(self.labels)
        first = [t for t in texts for _ in self.hypotheses]
        second = self.hypotheses * len(texts)
        features, sample_of, truncated = tokenize_windows(
            tok, first, second, limit=self.limit, all_windows=self.long == "chunk", stride=self.stride
        )
        logits = np.stack(run_sorted(features, self.forward, batch_size=self.batch_size, pad_id=tok.pad_token_id or 0))
        pooled = pool_windows(logits, sample_of, len(first)).reshape(len(texts), n_labels, -1)
        if self.multi_label and self.contra is not None:
            probs = softmax(pooled[:, :, [self.contra, self.entail]])[:, :, 1]
        elif self.multi_label:  # no contradiction class: entailment against every other class, per label
            probs = softmax(pooled)[:, :, self.entail]
        else:
            probs = softmax(pooled[:, :, self.entail])
        cut = np.array(truncated).reshape(len(texts), n_labels).any(axis=1)
        return probs, [bool(c) and self.long == "truncate" for c in cut]


class _EmbeddingScorer(_Scorer):
    cosine = True

    def __init__(self, embedder: Embedder, labels: list[str], template: str, multi_label: bool):
        super().__init__(embedder.loaded, labels, multi_label, embedder.long, embedder.batch_size)
        self.embedder = embedder
        self.runtime, self.runtime_warning = embedder.runtime, embedder.runtime_warning
        # Labels are encoded once per call, never per text.
        self.label_vectors, _ = embedder.encode([template.format(x) for x in labels])

    def score(self, texts: list[str]) -> tuple[np.ndarray, list[bool]]:
        vectors, truncated = self.embedder.encode(texts)
        cosine = vectors @ self.label_vectors.T
        scores = np.clip(cosine, 0.0, 1.0) if self.multi_label else softmax(cosine * EMBEDDING_SCALE)
        return scores, truncated


class _HeadScorer(_Scorer):
    """An embedding model plus a linear head (``nlu finetune --task fewshot``, or a head on a static model)."""

    def __init__(self, embedder: Embedder, head: LinearHead, multi_label: bool):
        super().__init__(embedder.loaded, head.labels, multi_label, embedder.long, embedder.batch_size)
        self.embedder, self.head = embedder, head
        self.runtime, self.runtime_warning = embedder.runtime, embedder.runtime_warning

    def score(self, texts: list[str]) -> tuple[np.ndarray, list[bool]]:
        vectors, truncated = self.embedder.encode(texts)
        return self.head.scores(vectors, self.multi_label), truncated


def head_folder(model: str | None) -> str | None:
    """The local folder of ``model`` when it is an encoder with a linear head (`nlu_toolkit.models.head`).

    A SetFit folder (a pickled head) is refused with `UnsafeModel`."""
    if model is None:
        return None
    try:
        path = locate(model, "text-classification").path
    except NluError:
        return None  # loading it the usual way raises the error that says what to do
    if has_pickled_head(path):
        refuse_pickled_head(path)
    return path if has_head(path) else None


class Classifier:
    """A loaded classifier; `predict` streams `Classification` records in input order.

    Modes:
        - no ``labels``: the model's own classification head (default: distilbert SST-2), or an
          embedding model's linear head (folders of ``nlu finetune --task fewshot``, or of
          ``--task classification`` on a static model): its encoder runs on the asked-for backend;
        - ``labels`` and an NLI ``model``: NLI zero-shot (entailment of ``hypothesis_template``);
        - ``labels`` and no model (or a sentence-transformers model): embedding zero-shot,
          cosine similarity between texts and templated labels, offline on the embedded MiniLM.

    Args:
        model: hub id, local folder, preset name or ``embedded``.
        labels: zero-shot candidate labels, a list or ``"a,b,c"``.
        hypothesis_template: template with ``{}`` for zero-shot labels (default ``"This text is {}."``,
            chosen by accuracy on SST-2 dev: see `DEFAULT_TEMPLATE`).
        top_k: labels kept per record (default: all).
        multi_label: independent per-label scores (sigmoid; for zero-shot, per-label
            entailment or cosine). Default: the model config's ``problem_type``. Zero-shot with
            one label is always multi-label (a softmax over one label would always be 1.0): its
            score is its own (cosine, or entailment against contradiction) and the label is kept
            if it reaches ``threshold``; ``multi_label=False`` with one label is a `UsageError`.
        threshold: with multi-label, keep labels scoring at least this (default 0.5;
            0.1 for embedding zero-shot, whose scores are cosine similarities: MiniLM's
            cosines between a sentence and a templated label are mostly below 0.4).
        long: ``truncate`` cuts texts at the model's limit and flags them; ``chunk`` scores
            overlapping windows and averages them (``window``, its old name, is taken with a
            `DeprecationWarning`).
        stride: with ``long="chunk"``, tokens shared by neighbouring windows (default: a
            quarter of the window).
        run: how the model runs (`RunOptions`: device, batch size, token limit, backend,
            quantize, threads, trust_remote_code); its fields may also be given as keywords
            (``batch_size=64``, ``backend="onnx"``). An exported graph is checked on probe texts
            (label agreement >= 99%) and torch runs, with ``runtime_warning`` set, if it disagrees.
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        labels: str | Sequence[str] | None = None,
        hypothesis_template: str = DEFAULT_TEMPLATE,
        top_k: int | None = None,
        multi_label: bool | None = None,
        threshold: float | None = None,
        long: str = "truncate",
        stride: int | None = None,
        run: RunOptions | None = None,
        **options: Unpack[RunFields],
    ) -> None:
        run = RunOptions.merge(run, **options)
        long = long_mode(long, stride)
        check_positive("top_k", top_k)
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            raise UsageError(f"{{=threshold}} must be between 0 and 1, got {threshold}", "e.g. {=threshold}=0.5")
        check_template(hypothesis_template)
        label_list = parse_labels(labels)
        if label_list is not None and len(label_list) == 1:
            # A softmax over one label is always 1.0: one label is scored on its own, as in multi-label mode.
            if multi_label is False:
                raise UsageError(
                    f"{{=labels}} has one label ({label_list[0]!r}): scored against no other label it always gets 1.0",
                    "give two or more {=labels}, or do not ask for single-label scores: one label is then scored "
                    "on its own (as in multi-label mode, kept if it reaches {=threshold})",
                )
            multi_label = True
        self.top_k = top_k
        args = (long, run.max_length, run.batch_size)
        device, trust_remote_code = run.device, run.trust_remote_code
        head_path = head_folder(model) if label_list is None else None
        if head_path is not None:
            head = load_head(head_path)
            embedder = Embedder(head_path, normalize=head.normalize, long=long, stride=stride, run=run)
            loaded = embedder.loaded
            multi_label = head.multi_label if multi_label is None else multi_label
            self._scorer = _HeadScorer(embedder, head, multi_label)
        elif label_list is None:
            loaded = load_model(model, "text-classification", device=device, trust_remote_code=trust_remote_code)
            if multi_label is None:
                multi_label = getattr(loaded.model.config, "problem_type", None) == "multi_label_classification"
            self._scorer: _Scorer = _SupervisedScorer(loaded, multi_label, *args, run.export(), stride)
        elif model is None or is_sentence_transformer(locate(model, "zero-shot").path):
            embedder = Embedder(model, normalize=True, long=long, stride=stride, run=run)
            loaded = embedder.loaded
            multi_label = bool(multi_label)
            self._scorer = _EmbeddingScorer(embedder, label_list, hypothesis_template, multi_label)
        else:
            loaded = load_model(model, "zero-shot", device=device, trust_remote_code=trust_remote_code)
            multi_label = bool(multi_label)
            self._scorer = _NliScorer(loaded, label_list, hypothesis_template, multi_label, *args, run.export(), stride)
        self.multi_label = multi_label
        default = COSINE_THRESHOLD if self._scorer.cosine else THRESHOLD
        self.threshold = default if threshold is None else threshold
        self.model_info: ModelInfo = loaded.info
        self.labels = self._scorer.labels
        #: The backend that runs ("torch", "onnx", "onnx-int8"), and why not the one asked for.
        self.runtime, self.runtime_warning = self._scorer.runtime, self._scorer.runtime_warning

    def score(self, texts: list[str]) -> tuple[np.ndarray, list[bool]]:
        """Raw scores (n_texts, n_labels) in `labels` order (probabilities, or cosines for embedding
        zero-shot), and which texts were cut at the token limit."""
        return self._scorer.score(texts)

    def predict(self, inputs: Inputs) -> Iterator[Classification]:
        """Classify ``inputs`` (a string, strings, or records with ``text``), lazily and in order."""
        for window in chunked(as_records(inputs), WINDOW):
            scores, truncated = self._scorer.score([r["text"] for r in window])
            for record, row, cut in zip(window, scores, truncated, strict=True):
                yield self._record(record, row, cut)

    def _record(self, record: dict[str, Any], row: np.ndarray, truncated: bool) -> Classification:
        order = np.argsort(-row, kind="stable")
        ranked = [LabelScore(self.labels[i], float(row[i])) for i in order]
        if self.multi_label:
            ranked = [x for x in ranked if x.score >= self.threshold]
        if self.top_k is not None:
            ranked = ranked[: self.top_k]
        best = ranked[0] if ranked else None
        return Classification(
            id=record["id"],
            text=record["text"],
            label=best.label if best else None,
            score=best.score if best else None,
            labels=ranked,
            truncated=truncated,
            extra=passthrough(record, ["text"]),
        )


def classify(inputs: Inputs, model: str | None = None, **options: Any) -> list[Classification]:
    """Classify texts; see `Classifier` for the options.

    >>> classify(["I loved it", "Dull."], labels="positive,negative")[0].label  # doctest: +SKIP
    'positive'
    """
    return list(Classifier(model, **options).predict(inputs))
