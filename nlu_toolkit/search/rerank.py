"""The cross-encoder reranker: one loader and one scorer for search's ``rerank`` and the served ``/rerank``.

`nlu_toolkit.search.index` re-scores hits with it; `nlu_toolkit.serve` scores ``(query, text)`` pairs with
it, so a served rerank score equals the score search gives the same pair.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nlu_toolkit.errors import NluError


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
    options: dict[str, Any] = {"show_progress_bar": False, "batch_size": batch_size}
    if raw is not None:
        import torch

        options["activation_fn"] = torch.nn.Identity()
    scores = np.asarray(model.predict(list(pairs), **options), dtype=np.float64).reshape(len(pairs), -1)[:, -1]
    return scores if raw is not False else 1.0 / (1.0 + np.exp(-scores))
