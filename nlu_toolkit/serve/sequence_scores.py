"""TEI's ``/predict`` on a sequence-classification model: one score per label for a text or a text pair.

The served ``rerank`` model (a cross-encoder) and the supervised ``classify`` model both answer it, each on
its own model's worker (`nlu_toolkit.serve.tasks`: the group ``(PREDICT, raw_scores)``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nlu_toolkit.engine.meter import count_tokens

#: The first item of a ``/predict`` batch group, ``(PREDICT, raw_scores)``.
PREDICT = "predict"


class SequenceScorer:
    """Logits of a transformers sequence-classification ``model``, or their softmax (sigmoid for one label)."""

    def __init__(self, model: Any, tokenizer: Any, max_length: int, batch_size: int) -> None:
        self.model, self.tokenizer, self.max_length, self.batch_size = model, tokenizer, max_length, batch_size
        config = model.config
        self.labels = [str(config.id2label[i]) for i in range(config.num_labels)]

    def scores(self, payloads: list[tuple[str, ...]], *, raw: bool) -> list[dict[str, Any]]:
        """One ``{"scores"}`` (one per label) per ``(text,)`` or ``(text, text_pair)``, in order."""
        logits = self._logits(payloads)
        if not raw:
            from nlu_toolkit.core.pooling import sigmoid, softmax

            logits = sigmoid(logits) if logits.shape[1] == 1 else softmax(logits)
        return [{"scores": [float(x) for x in row]} for row in logits]

    def _logits(self, payloads: list[tuple[str, ...]]) -> np.ndarray:
        import torch

        out = np.zeros((len(payloads), len(self.labels)), dtype=np.float64)
        for size in (1, 2):  # texts, then pairs: a pass takes one kind
            rows = [i for i, p in enumerate(payloads) if len(p) == size]
            for start in range(0, len(rows), self.batch_size):
                chunk = rows[start : start + self.batch_size]
                encoded = self.tokenizer(
                    [payloads[i][0] for i in chunk],
                    [payloads[i][1] for i in chunk] if size == 2 else None,
                    truncation=True,
                    max_length=self.max_length,
                    padding=True,
                    return_tensors="pt",
                ).to(self.model.device)
                mask = encoded.get("attention_mask")  # our own tokenization: counted with no second one
                count_tokens(int(mask.sum()) if mask is not None else int(encoded["input_ids"].numel()))
                with torch.inference_mode():
                    out[chunk] = self.model(**encoded).logits.float().cpu().numpy()
        return out


class HeadScorer:
    """``/predict`` on an encoder with a linear head (`nlu_toolkit.models.head`): its logits, or probabilities."""

    def __init__(self, path: str, options: dict[str, Any]) -> None:
        from nlu_toolkit.models.head import load_head
        from nlu_toolkit.tasks.embed import Embedder

        self.head = load_head(path)
        self.labels = self.head.labels
        # The resolver's cache hands back the encoder `Classifier` already loaded.
        self.embedder = Embedder(path, normalize=self.head.normalize, device=options.get("device"))
        self.tokenizer, self.max_length = self.embedder.loaded.tokenizer, self.embedder.limit

    def scores(self, payloads: list[tuple[str, ...]], *, raw: bool) -> list[dict[str, Any]]:
        from nlu_toolkit.errors import InputError

        if any(len(p) != 1 for p in payloads):
            raise InputError("this classifier scores single texts, not text pairs", "send one text per input")
        vectors, _ = self.embedder.encode([p[0] for p in payloads])
        rows = self.head.logits(vectors) if raw else self.head.scores(vectors)
        return [{"scores": [float(x) for x in row]} for row in rows]


def classifier_scorer(spec: str | None, options: dict[str, Any]) -> SequenceScorer | HeadScorer:
    """The scorer of a supervised classify model: the model the resolver loaded for `Classifier` (cached)."""
    from nlu_toolkit.models.resolver import load_model
    from nlu_toolkit.tasks.classify import head_folder
    from nlu_toolkit.tasks.common import token_limit

    head_path = head_folder(spec)
    if head_path is not None:
        return HeadScorer(head_path, options)
    loaded = load_model(spec, "text-classification", device=options.get("device"))
    limit = token_limit(loaded.tokenizer, loaded.model)
    return SequenceScorer(loaded.model, loaded.tokenizer, limit, int(options.get("batch_size") or 32))
