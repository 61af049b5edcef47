"""Named-entity recognition with overlapping windows merged by character offset."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from nlu_toolkit.core.pooling import softmax
from nlu_toolkit.core.spans import STRATEGIES, Token, aggregate, merge_windows
from nlu_toolkit.engine.batching import WINDOW, chunked, run_sorted, tokenize_windows
from nlu_toolkit.errors import UsageError
from nlu_toolkit.models.resolver import ModelInfo, load_model
from nlu_toolkit.records import Entity, NerResult
from nlu_toolkit.tasks.common import Inputs, as_records, check_positive, passthrough, token_limit, torch_forward


class EntityRecognizer:
    """A loaded token-classification model; `predict` streams `NerResult` records in order.

    Texts longer than the model's limit are split into windows that overlap by
    ``stride`` tokens; each token keeps the prediction of the window where it
    has the most context, so nothing is cut and window edges do not split
    entities.

    Args:
        model: hub id, local folder or preset name (default: a CoNLL-03 BERT NER model).
        aggregation: ``none``, ``simple``, ``first`` (default), ``average`` or ``max``.
        max_length: lower the token limit per window.
        stride: tokens shared by neighbouring windows (default: a quarter of the window).
        batch_size: windows per forward pass.
        device: ``auto``, ``cpu``, ``cuda`` or ``mps``.
        runtime: the CLI's ``--backend``: ``torch``, ``onnx`` or ``auto``; the ONNX graph is
            checked on probe texts (token tag agreement >= 99%), else torch runs and
            ``runtime_warning`` says why.
        quantize: ``int8`` for dynamic int8 quantization of the ONNX graph.
        threads: CPU threads for ONNX Runtime or torch.
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        aggregation: str = "first",
        max_length: int | None = None,
        stride: int | None = None,
        batch_size: int = 32,
        device: str | None = "auto",
        trust_remote_code: bool = False,
        runtime: str = "torch",
        quantize: str | None = None,
        threads: int | None = None,
    ) -> None:
        from nlu_toolkit.engine.probe import PROBE_SENTENCES
        from nlu_toolkit.engine.runtime import check_backend, select_forward

        check_backend(runtime, quantize)
        if aggregation not in STRATEGIES:
            raise UsageError(f"unknown --aggregation {aggregation!r}", f"use one of: {', '.join(STRATEGIES)}")
        check_positive("--batch-size", batch_size)
        self.loaded = load_model(model, "token-classification", device=device, trust_remote_code=trust_remote_code)
        self.model_info: ModelInfo = self.loaded.info
        self.aggregation = aggregation
        self.batch_size = batch_size
        self.limit = token_limit(self.loaded.tokenizer, self.loaded.model, max_length)
        content = self.limit - self.loaded.tokenizer.num_special_tokens_to_add()
        self.stride = content // 4 if stride is None else stride
        if not 0 <= self.stride < content:
            raise UsageError(f"--stride must be between 0 and {content - 1}", "lower --stride or raise --max-length")
        config = self.loaded.model.config
        self.id2label = {int(k): str(v) for k, v in config.id2label.items()}
        probe, _, _ = tokenize_windows(self.loaded.tokenizer, PROBE_SENTENCES, limit=self.limit, all_windows=False)
        pad_id = self.loaded.tokenizer.pad_token_id or 0
        fwd = torch_forward(
            self.loaded.model, self.model_info.device, lambda out: out.logits, probe=probe, pad_id=pad_id
        )
        chosen = select_forward(
            self.loaded, "token-classification", fwd, task="ner", backend=runtime, quantize=quantize,
            threads=threads, probe=probe,
        )  # fmt: skip
        self.forward = chosen.forward
        #: The backend that runs ("torch", "onnx", "onnx-int8"), and why not the one asked for.
        self.runtime, self.runtime_warning = chosen.name, chosen.warning

    def predict(self, inputs: Inputs) -> Iterator[NerResult]:
        """Tag ``inputs`` (a string, strings, or records with ``text``), lazily and in order."""
        tok = self.loaded.tokenizer
        for window in chunked(as_records(inputs), WINDOW):
            texts = [r["text"] for r in window]
            enc = tok(
                texts,
                truncation=True,
                max_length=self.limit,
                stride=self.stride,
                return_overflowing_tokens=True,
                return_offsets_mapping=True,
                return_special_tokens_mask=True,
            )
            keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc]
            features = [{k: enc[k][w] for k in keys} for w in range(len(enc["input_ids"]))]
            logits = run_sorted(features, self.forward, batch_size=self.batch_size, pad_id=tok.pad_token_id or 0)
            per_sample: list[list[list[Token]]] = [[] for _ in texts]
            for w, sample in enumerate(enc["overflow_to_sample_mapping"]):
                n = len(features[w]["input_ids"])
                probs = softmax(np.asarray(logits[w][:n], dtype=np.float64))
                per_sample[sample].append(self._tokens(enc, w, probs))
            for record, text, windows in zip(window, texts, per_sample, strict=True):
                entities = aggregate(merge_windows(windows), text, self.id2label, self.aggregation)
                yield NerResult(
                    id=record["id"],
                    text=text,
                    entities=[Entity(**e) for e in entities],  # type: ignore[arg-type]
                    truncated=False,
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
