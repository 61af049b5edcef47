"""The cross-encoder reranker: one loader and one scorer for search's ``rerank`` and the served ``/rerank``.

`nlu_toolkit.search.index` re-scores hits with it; `nlu_toolkit.serve` scores ``(query, text)`` pairs with
it, so a served rerank score equals the score search gives the same pair.

Tokens are metered (`nlu_toolkit.engine.meter`, the server's ``nlu_tokens_total``) from the cross-encoder's own
tokenization: a forward pre-hook sums the attention mask of each batch `CrossEncoder.predict` builds, so
nothing is tokenized twice and the scores stay exactly ``predict``'s.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from nlu_toolkit.engine.meter import count_tokens
from nlu_toolkit.errors import NluError

_hooking = threading.Lock()


def load_cross_encoder(model: str, *, device: str | None = "auto", param: str = "rerank") -> Any:
    """The loaded cross-encoder (a resolver `LoadedModel`, cached); errors name it as ``param``."""
    from nlu_toolkit.models.resolver import load_model

    try:
        return load_model(model, "cross-encoder", device=device)
    except NluError as e:  # the loader speaks of {=model}; the user gave it as `param`
        raise e.rename_param("model", param) from None


def cross_encoder_scores(
    model: Any, pairs: Sequence[tuple[str, str]], *, raw: bool | None = None, batch_size: int = 32
) -> np.ndarray:
    """One score per ``(query, text)`` pair: the last logit of a `CrossEncoder` (``model``).

    ``raw=None`` applies the model's own activation (what search's rerank uses: sigmoid for a one-label
    model unless the model says otherwise); ``raw=True`` gives the logit; ``raw=False`` its sigmoid
    (text-embeddings-inference's ``raw_scores`` false and true).
    """
    if not pairs:
        return np.zeros(0, dtype=np.float64)
    metered(model)
    options: dict[str, Any] = {"show_progress_bar": False, "batch_size": batch_size}
    if raw is not None:
        import torch

        options["activation_fn"] = torch.nn.Identity()
    scores = np.asarray(model.predict(list(pairs), **options), dtype=np.float64).reshape(len(pairs), -1)[:, -1]
    return scores if raw is not False else 1.0 / (1.0 + np.exp(-scores))


def metered(model: Any) -> None:
    """Have ``model`` (a `CrossEncoder`, an ``nn.Module``) count the tokens of every batch it runs for this thread's
    open token meter, if any: a forward pre-hook, added once, summing the attention mask of the features that
    ``predict`` tokenized (special tokens included, after truncation; padding not)."""
    with _hooking:
        if getattr(model, "_nlu_metered", False) or not hasattr(model, "register_forward_pre_hook"):
            return
        model.register_forward_pre_hook(_count_batch)
        model._nlu_metered = True


def _count_batch(module: Any, args: tuple[Any, ...]) -> None:
    features = args[0] if args else None
    mask = features.get("attention_mask") if hasattr(features, "get") else None  # a dict or a BatchEncoding
    if mask is not None:
        count_tokens(int(mask.sum()))
