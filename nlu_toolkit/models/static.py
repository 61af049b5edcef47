"""Static embedding models (Model2Vec): a vocabulary of token vectors, no transformer at inference.

A static folder is recognised by its ``config.json`` (``"model_type": "model2vec"``), never by its
name. It loads through the ``model2vec`` library (the ``static`` extra) as a `LoadedModel` whose
``model`` is a ``model2vec.StaticModel`` and whose ``tokenizer`` is the folder's tokenizer as a
transformers fast tokenizer (for token counts and passages).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from nlu_toolkit.extras import require
from nlu_toolkit.models.resolver import LoadedModel, ModelInfo, load_error
from nlu_toolkit.models.weights import require_safetensors

STATIC_KIND = "model2vec"
#: Tokens per text when the caller gives no limit (Model2Vec's own default).
DEFAULT_LIMIT = 512


def static_config(path: str | Path) -> dict[str, Any] | None:
    """The folder's Model2Vec config, or None when ``path`` is not a static model folder."""
    config = Path(path) / "config.json"
    if not config.is_file():
        return None
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("model_type") == STATIC_KIND else None


def is_static_folder(path: str | Path) -> bool:
    return static_config(path) is not None


def require_model2vec() -> Any:
    """The ``model2vec`` module, or `MissingExtra` with the install hint."""
    return require("model2vec", extra="static", package="model2vec")


def load_static(info: ModelInfo) -> LoadedModel:
    """Load the static model folder ``info.path`` (safetensors only, offline) on the CPU."""
    model2vec = require_model2vec()
    require_safetensors(info.path)
    try:
        model = model2vec.StaticModel.from_pretrained(info.path, force_download=False)
    except Exception as e:  # model2vec raises many kinds; all mean "this folder will not load"
        raise load_error(info, e) from e
    from transformers import PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast(tokenizer_object=model.tokenizer)
    dtype = str(np.asarray(model.embedding).dtype)
    # Lookups and means in numpy: a static model runs on the CPU whatever device was asked for.
    return LoadedModel(
        model, tokenizer, ModelInfo(**{**info.to_dict(), "device": "cpu", "dtype": dtype, "kind": STATIC_KIND})
    )
