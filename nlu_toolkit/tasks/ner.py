"""Named-entity recognition with overlapping windows merged by character offset."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from nlu_toolkit.core.pooling import softmax
from nlu_toolkit.core.spans import STRATEGIES, Token, aggregate, merge_windows
from nlu_toolkit.engine.batching import WINDOW, chunked, run_sorted, tokenize_windows
from nlu_toolkit.engine.options import RunFields, RunOptions
from nlu_toolkit.errors import check_choice
from nlu_toolkit.models.resolver import ModelInfo, load_model
from nlu_toolkit.records import Entity, NerResult
from nlu_toolkit.tasks.common import (
    Inputs,
    as_records,
    check_stride,
    long_mode,
    passthrough,
    token_limit,
    torch_forward,
)

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing.Unpack is Python 3.11+


class EntityRecognizer:
    """A loaded token-classification model; `predict` streams `NerResult` records in order.

    Texts longer than the model's limit are split into windows that overlap by
    ``stride`` tokens (``long="chunk"``, the default); each token keeps the prediction of
    the window where it has the most context, so nothing is cut and window edges do not
    split entities.

    Args:
        model: hub id, local folder or preset name (default: a CoNLL-03 BERT NER model).
        aggregation: ``none``, ``simple``, ``first`` (default), ``average`` or ``max``.
        long: ``chunk`` (default) tags every window of a long text; ``truncate`` tags only
            the first window (the record says ``truncated``).
        stride: with ``long="chunk"``, tokens shared by neighbouring windows (default: a
            quarter of the window).
        run: how the model runs (`RunOptions`: device, batch size in windows, token limit per
            window, backend, quantize, threads, trust_remote_code); its fields may also be given
            as keywords (``batch_size=8``, ``backend="onnx"``). An exported graph is checked on
            probe texts (token tag agreement >= 99%), else torch runs and ``runtime_warning``
            says why.
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        aggregation: str = "first",
        long: str = "chunk",
        stride: int | None = None,
        run: RunOptions | None = None,
        **options: Unpack[RunFields],
    ) -> None:
        from nlu_toolkit.engine.probe import PROBE_SENTENCES
        from nlu_toolkit.engine.runtime import select_forward

        run = RunOptions.merge(run, **options)
        check_choice("aggregation", aggregation, STRATEGIES)
        self.long = long_mode(long, stride)
        self.loaded = load_model(
            model, "token-classification", device=run.device, trust_remote_code=run.trust_remote_code
        )
        self.model_info: ModelInfo = self.loaded.info
        self.aggregation = aggregation
        self.batch_size = run.batch_size
        self.limit = token_limit(self.loaded.tokenizer, self.loaded.model, run.max_length)
        content = self.limit - self.loaded.tokenizer.num_special_tokens_to_add()
        check_stride(stride, content)
        self.stride = content // 4 if stride is None else stride
        config = self.loaded.model.config
        self.id2label = {int(k): str(v) for k, v in config.id2label.items()}
        probe, _, _ = tokenize_windows(self.loaded.tokenizer, PROBE_SENTENCES, limit=self.limit, all_windows=False)
        pad_id = self.loaded.tokenizer.pad_token_id or 0
        fwd = torch_forward(
            self.loaded.model, self.model_info.device, lambda out: out.logits, probe=probe, pad_id=pad_id
        )
        chosen = select_forward(self.loaded, "token-classification", fwd, task="ner", probe=probe, **run.export())
        self.forward = chosen.forward
        #: The backend that runs ("torch", "onnx", "onnx-int8"), and why not the one asked for.
        self.runtime, self.runtime_warning = chosen.name, chosen.warning

    def predict(self, inputs: Inputs) -> Iterator[NerResult]:
        """Tag ``inputs`` (a string, strings, or records with ``text``), lazily and in order."""
        tok = self.loaded.tokenizer
        for window in chunked(as_records(inputs), WINDOW):
            texts = [r["text"] for r in window]
            chunk = self.long == "chunk"
            windows = {"stride": self.stride, "return_overflowing_tokens": True} if chunk else {}
            enc = tok(
                texts,
                truncation=True,
                max_length=self.limit,
                return_offsets_mapping=True,
                return_special_tokens_mask=True,
                **windows,
            )
            # Without overflow windows, encoding i is text i, and what truncation cut is in `overflowing`.
            sample_of = enc["overflow_to_sample_mapping"] if chunk else range(len(texts))
            cut = [False] * len(texts) if chunk else [len(e.overflowing) > 0 for e in enc.encodings]
            keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc]
            features = [{k: enc[k][w] for k in keys} for w in range(len(enc["input_ids"]))]
            logits = run_sorted(features, self.forward, batch_size=self.batch_size, pad_id=tok.pad_token_id or 0)
            per_sample: list[list[list[Token]]] = [[] for _ in texts]
            for w, sample in enumerate(sample_of):
                n = len(features[w]["input_ids"])
                probs = softmax(np.asarray(logits[w][:n], dtype=np.float64))
                per_sample[sample].append(self._tokens(enc, w, probs))
            for record, text, tagged, truncated in zip(window, texts, per_sample, cut, strict=True):
                entities = aggregate(merge_windows(tagged), text, self.id2label, self.aggregation)
                yield NerResult(
                    id=record["id"],
                    text=text,
                    entities=[Entity(**e) for e in entities],  # type: ignore[arg-type]
                    truncated=truncated,
                    extra=passthrough(record, ["text"]),
                )

    @staticmethod
    def _tokens(enc: Any, w: int, probs: np.ndarray) -> list[Token]:
        offsets = enc["offset_mapping"][w]
        special = enc["special_tokens_mask"][w]
        word_ids = enc.encodings[w].word_ids
        positions = [i for i in range(len(offsets)) if not special[i] and offsets[i][1] > offsets[i][0]]
        if not positions:
            return []
        first, last = positions[0], positions[-1]
        return [
            Token(int(offsets[i][0]), int(offsets[i][1]), word_ids[i], probs[i], min(i - first, last - i))
            for i in positions
        ]


def ner(inputs: Inputs, model: str | None = None, **options: Any) -> list[NerResult]:
    """Find named entities in texts; see `EntityRecognizer` for the options."""
    return list(EntityRecognizer(model, **options).predict(inputs))
