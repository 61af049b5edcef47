"""Extractive question answering over contexts of any length (overlapping windows)."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from nlu_toolkit.core.qa import decode_window
from nlu_toolkit.engine.batching import chunked, run_sorted
from nlu_toolkit.engine.options import RunFields, RunOptions
from nlu_toolkit.errors import InputError, UsageError
from nlu_toolkit.io.readers import check_text
from nlu_toolkit.models.resolver import ModelInfo, load_model
from nlu_toolkit.records import Answer, QAResult
from nlu_toolkit.tasks.common import check_positive, long_mode, passthrough, token_limit, torch_forward

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing.Unpack is Python 3.11+

#: QA windows are large (question + context); fewer records per window keeps memory flat.
QA_WINDOW = 256
#: Tokens per window (question + context) when the run sets no ``max_length``.
QA_MAX_LENGTH = 384
#: QA's run defaults: its windows are long, so fewer per forward pass.
QA_RUN = RunOptions(batch_size=16)


class QuestionAnswerer:
    """A loaded extractive-QA model; `predict` streams `QAResult` records in order.

    Contexts longer than the window (``max_length`` tokens, question + context) are split
    into windows that overlap by ``stride`` tokens (``long="chunk"``, the default); the best
    spans of all windows compete.

    Args:
        model: hub id, local folder or preset name (default: distilbert SQuAD).
        top_k: answers kept per question.
        max_answer_len: longest answer, in tokens.
        long: ``chunk`` (default) reads every window of a long context; ``truncate`` reads only
            the first window (answers come from the start of the context; the record says ``truncated``).
        stride: with ``long="chunk"``, tokens shared by neighbouring windows, default
            min(128, window // 4). ``doc_stride`` is its old name, taken with a `DeprecationWarning`.
        allow_impossible: allow "no answer" (SQuAD v2); it wins when the null
            score beats every span.
        run: how the model runs (`RunOptions`: device, batch size in windows, token limit per
            window, backend, quantize, threads, trust_remote_code); its fields may also be given
            as keywords (``max_length=512``, ``backend="onnx"``). Without ``run=``, 16 windows
            run per forward pass (`QA_RUN`); a window is 384 tokens (`QA_MAX_LENGTH`, or the
            model's limit if lower) unless ``max_length`` says otherwise. An exported graph is
            checked on probe questions (answer start/end agreement >= 99%), else torch runs and
            ``runtime_warning`` says why.
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        top_k: int = 1,
        max_answer_len: int = 30,
        long: str = "chunk",
        stride: int | None = None,
        allow_impossible: bool = False,
        run: RunOptions | None = None,
        doc_stride: int | None = None,
        **options: Unpack[RunFields],
    ) -> None:
        from nlu_toolkit.engine.probe import PROBE_QUESTIONS
        from nlu_toolkit.engine.runtime import select_forward

        if doc_stride is not None:
            warnings.warn("doc_stride= is deprecated; use stride=", DeprecationWarning, stacklevel=2)
            if stride is not None and stride != doc_stride:
                raise UsageError("{=stride} and {=doc_stride} disagree", "give {=stride} only")
            stride = doc_stride
        self.long = long_mode(long, stride)
        run = RunOptions.merge(QA_RUN if run is None else run, **options)
        check_positive("top_k", top_k)
        check_positive("max_answer_len", max_answer_len)
        self.loaded = load_model(
            model, "question-answering", device=run.device, trust_remote_code=run.trust_remote_code
        )
        self.model_info: ModelInfo = self.loaded.info
        self.limit = token_limit(self.loaded.tokenizer, self.loaded.model, run.max_length or QA_MAX_LENGTH)
        if stride is None:
            stride = min(128, self.limit // 4) if self.long == "chunk" else 0
        if not 0 <= stride < self.limit // 2:
            raise UsageError(
                f"{{=stride}} must be between 0 and {self.limit // 2 - 1} for {{=max_length}} {self.limit}",
                "lower {=stride}",
            )
        self.top_k, self.max_answer_len, self.stride = top_k, max_answer_len, stride
        self.allow_impossible, self.batch_size = allow_impossible, run.batch_size
        enc = self.loaded.tokenizer(
            [q for q, _ in PROBE_QUESTIONS], [c for _, c in PROBE_QUESTIONS], truncation="only_second",
            max_length=self.limit,
        )  # fmt: skip
        keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc]
        probe = [{k: enc[k][i] for k in keys} for i in range(len(enc["input_ids"]))]
        fwd = torch_forward(
            self.loaded.model, self.model_info.device, lambda out: (out.start_logits, out.end_logits), probe=probe,
            pad_id=self.loaded.tokenizer.pad_token_id or 0,
        )  # fmt: skip
        chosen = select_forward(self.loaded, "question-answering", fwd, task="qa", probe=probe, **run.export())
        self.forward = chosen.forward
        #: The backend that runs ("torch", "onnx", "onnx-int8"), and why not the one asked for.
        self.runtime, self.runtime_warning = chosen.name, chosen.warning

    def predict(self, records: Iterable[Mapping[str, Any]]) -> Iterator[QAResult]:
        """Answer records ``{"question", "context", ...}`` lazily and in order."""
        tok = self.loaded.tokenizer
        for window in chunked(_checked(records), QA_WINDOW):
            questions = [r["question"].strip() for r in window]
            contexts = [r["context"] for r in window]
            self._check_room(questions)
            chunk = self.long == "chunk"
            windows = {"stride": self.stride, "return_overflowing_tokens": True} if chunk else {}
            try:
                enc = tok(
                    questions,
                    contexts,
                    truncation="only_second",
                    max_length=self.limit,
                    return_offsets_mapping=True,
                    **windows,
                )
            except Exception as e:  # the tokenizer refuses a question that leaves no room for context
                raise InputError(
                    f"a question is too long for {{=max_length}} {self.limit} ({e})",
                    "shorten the question or raise {=max_length}",
                ) from e
            keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc]
            features = [{k: enc[k][w] for k in keys} for w in range(len(enc["input_ids"]))]
            logits = run_sorted(features, self.forward, batch_size=self.batch_size, pad_id=tok.pad_token_id or 0)
            candidates: list[list[Answer]] = [[] for _ in window]
            null: list[float] = [1.0] * len(window)
            # Without overflow windows, encoding i is record i.
            for w, sample in enumerate(enc["overflow_to_sample_mapping"] if chunk else range(len(window))):
                n = len(features[w]["input_ids"])
                seq_ids = enc.sequence_ids(w)
                mask = np.array([s == 1 for s in seq_ids])
                ids = features[w]["input_ids"]
                cls = ids.index(tok.cls_token_id) if tok.cls_token_id in ids else 0
                spans, null_score = decode_window(
                    logits[w][:n, 0],
                    logits[w][:n, 1],
                    mask,
                    max_answer_len=self.max_answer_len,
                    top_k=self.top_k,
                    null_index=cls,
                )
                null[sample] = min(null[sample], null_score)
                offsets = enc["offset_mapping"][w]
                context = contexts[sample]
                for span in spans:
                    start, end = int(offsets[span.start_token][0]), int(offsets[span.end_token][1])
                    candidates[sample].append(Answer(context[start:end], span.score, start, end))
            # Without overflow windows, what truncation cut of a context is in `overflowing`.
            cut = [False] * len(window) if chunk else [len(e.overflowing) > 0 for e in enc.encodings]
            for record, question, found, null_score, truncated in zip(
                window, questions, candidates, null, cut, strict=True
            ):
                yield self._result(record, question, found, null_score, truncated)

    def _check_room(self, questions: list[str]) -> None:
        """Refuse questions that leave no more context room than the stride.

        The tokenizer would panic in Rust (a BaseException) rather than raise.
        """
        tok = self.loaded.tokenizer
        specials = tok.num_special_tokens_to_add(pair=True)
        for q, ids in zip(questions, tok(questions, add_special_tokens=False)["input_ids"], strict=True):
            room = self.limit - specials - len(ids)
            if room <= self.stride:
                raise InputError(
                    f"question {q[:40]!r} is too long: {len(ids)} tokens, leaving {max(room, 0)} for the context under "
                    f"{{=max_length}} {self.limit} with {{=stride}} {self.stride}",
                    "shorten the question, raise {=max_length} or lower {=stride}",
                )

    def _result(
        self, record: Mapping[str, Any], question: str, found: list[Answer], null_score: float, truncated: bool
    ) -> QAResult:
        best: dict[tuple[int, int], Answer] = {}
        for a in found:  # a span seen in two windows counts once, with its best score
            if (a.start, a.end) not in best or a.score > best[(a.start, a.end)].score:
                best[(a.start, a.end)] = a
        ranked = sorted(best.values(), key=lambda a: -a.score)
        if self.allow_impossible:
            ranked.append(Answer("", null_score, 0, 0))
            ranked.sort(key=lambda a: -a.score)
        ranked = ranked[: self.top_k]
        top = ranked[0] if ranked else Answer("", 0.0, 0, 0)
        impossible = self.allow_impossible and top.answer == "" and top.start == top.end == 0
        return QAResult(
            id=record["id"],
            question=question,
            answer=top.answer,
            score=top.score,
            start=top.start,
            end=top.end,
            answers=ranked,
            impossible=impossible,
            truncated=truncated,
            extra=passthrough(record, ["question", "context"]),
        )


def _checked(records: Iterable[Mapping[str, Any]]) -> Iterator[dict[str, Any]]:
    n = 0
    for i, r in enumerate(records):
        if not isinstance(r, Mapping):
            raise InputError(
                f"record {i} is a {type(r).__name__}, not a mapping",
                'give records like {"question": ..., "context": ...}',
            )
        for key in ("question", "context"):
            if not isinstance(r.get(key), str) or not r[key].strip():
                raise InputError(f"record {r.get('id', i)!r} has no {key}", f"give every record a non-empty {key!r}")
            check_text(r[key], None, what=f"the {key} of record {r.get('id', i)!r}")
        n += 1
        yield {"id": r.get("id", i), **{k: v for k, v in r.items() if k != "id"}}
    if n == 0:
        raise InputError("no questions given", "give at least one record with a question and a context")


def qa(
    question: str | Iterable[str] | None = None,
    context: str | None = None,
    *,
    records: Iterable[Mapping[str, Any]] | None = None,
    model: str | None = None,
    **options: Any,
) -> list[QAResult]:
    """Answer questions about a context, or a batch of ``{"question", "context"}`` records.

    >>> qa("Who wrote it?", context="It was written by Ada.")[0].answer  # doctest: +SKIP
    'Ada'
    """
    if records is None:
        if question is None or context is None:
            raise UsageError(
                "qa() needs a {=question} and a {=context}, or {=records}", "pass {=context}=..., or {=records}=[...]"
            )
        questions = [question] if isinstance(question, str) else list(question)
        records = [{"id": i, "question": q, "context": context} for i, q in enumerate(questions)]
    return list(QuestionAnswerer(model, **options).predict(records))
