"""Loading a transformer for inspection, with eager attention, and the cache of loaded models.

Inspection keeps its own cache: it loads the bare transformer (of a sentence-transformers folder too)
with ``attn_implementation="eager"`` so attention weights come back, which `load_model` does not do.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nlu_toolkit.errors import ModelNotAvailable, UsageError
from nlu_toolkit.models.cache import ModelCache
from nlu_toolkit.models.resolver import ModelInfo, locate


@dataclass
class _Loaded:
    model: Any
    tokenizer: Any
    info: ModelInfo
    max_seq_length: int | None


_CACHE: ModelCache[_Loaded] = ModelCache()


def _transformer_folder(path: Path) -> tuple[Path, int | None]:
    """The folder holding the transformer of a sentence-transformers model (or ``path`` itself), and its
    ``max_seq_length`` when sentence_bert_config.json sets one."""
    folder = path
    modules = path / "modules.json"
    if modules.is_file():
        try:
            entries = json.loads(modules.read_text(encoding="utf-8"))
            first = next(e for e in entries if str(e.get("type", "")).endswith("Transformer"))
            folder = path / first.get("path", "")
        except (ValueError, StopIteration, AttributeError, TypeError):
            folder = path
    limit = None
    config = folder / "sentence_bert_config.json"
    if config.is_file():
        try:
            limit = json.loads(config.read_text(encoding="utf-8")).get("max_seq_length")
        except (ValueError, AttributeError):
            limit = None
    return folder, int(limit) if isinstance(limit, int) and limit > 0 else None


def _load(model_spec: str | None, device: str, trust_remote_code: bool) -> _Loaded:
    from nlu_toolkit.core.device import resolve_device

    resolved = resolve_device(device)
    return _CACHE.get_or_load(
        (model_spec, resolved, trust_remote_code), lambda: _load_uncached(model_spec, resolved, trust_remote_code)
    )


def _load_uncached(model_spec: str | None, resolved: str, trust_remote_code: bool) -> _Loaded:
    from nlu_toolkit.models.resolver import load_error, with_device

    info = locate(model_spec, "sentence-embedding")
    folder, max_seq_length = _transformer_folder(Path(info.path))
    if not (folder / "config.json").is_file():
        raise ModelNotAvailable(f"{info.path} is not a model folder", "give a transformers model folder (config.json)")
    from nlu_toolkit.models.weights import require_safetensors

    require_safetensors(folder)
    from transformers import AutoModel, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder), trust_remote_code=trust_remote_code)
        model = AutoModel.from_pretrained(
            str(folder),
            use_safetensors=True,
            trust_remote_code=trust_remote_code,
            attn_implementation="eager",  # sdpa returns no attention weights
        )
    except Exception as e:  # loader errors vary by model type; all mean "this folder will not load"
        raise load_error(info, e) from e
    if not getattr(tokenizer, "is_fast", False):
        raise UsageError(f"model {info.name!r} has no fast tokenizer", "character offsets need a tokenizer.json")
    model.to(resolved)
    model.eval()
    return _Loaded(model, tokenizer, with_device(info, resolved, "transformers", model), max_seq_length)


def clear_cache() -> None:
    """Forget the models loaded for inspection."""
    _CACHE.clear()
