"""Helpers shared by the task modules: record normalisation, token limits, model calls."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from nlu_toolkit.errors import UsageError, check_choice
from nlu_toolkit.io.readers import DEFAULT_MAX_CHARS, records_from_texts

Inputs = str | Iterable[str] | Iterable[Mapping[str, Any]]


def as_records(
    inputs: Inputs, field: str = "text", max_chars: int | None = DEFAULT_MAX_CHARS, id_start: int = 0
) -> Iterator[dict[str, Any]]:
    """Normalise strings, lists of strings or dict records to records with an ``id`` (numbered from ``id_start``)."""
    return records_from_texts(inputs, field=field, max_chars=max_chars, id_start=id_start)  # type: ignore[arg-type]


def passthrough(record: Mapping[str, Any], used: Iterable[str]) -> dict[str, Any]:
    """The record's columns that the task did not consume, copied unchanged."""
    skip = {"id", *used}
    return {k: v for k, v in record.items() if k not in skip}


#: Models whose learned positions start after the padding index (fairseq's RoBERTa layout): the
#: first ``pad_token_id + 1`` rows of the position table are never usable.
_OFFSET_POSITIONS = frozenset({"roberta", "xlm-roberta", "xlm-roberta-xl", "camembert", "longformer", "mpnet", "ibert"})
#: Models with relative positions: their config's position count is not an input limit.
_RELATIVE_POSITIONS = frozenset({"t5", "mt5", "umt5", "longt5", "deberta", "deberta-v2"})


def model_positions(model: Any) -> int | None:
    """The longest input ``model``'s position embeddings take, in tokens, or None when unbounded/unknown."""
    config = getattr(model, "config", None)
    if config is None or getattr(config, "model_type", None) in _RELATIVE_POSITIONS:
        return None
    positions = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)
    if not isinstance(positions, int) or positions <= 0:
        return None
    if getattr(config, "model_type", None) in _OFFSET_POSITIONS:
        positions -= (getattr(config, "pad_token_id", None) or 1) + 1
    return positions


def token_limit(tokenizer: Any, model: Any, requested: int | None = None) -> int:
    """The longest input the model takes, in tokens (optionally lowered by ``requested``).

    The one place every task's truncation, windowing and chunking gets its limit: the smaller of
    the tokenizer's ``model_max_length`` (tokenizers without one report a huge sentinel) and what
    the model's position embeddings hold (`model_positions`), so a tokenizer that claims more than
    the model can embed is never believed.
    """
    limits = []
    declared = getattr(tokenizer, "model_max_length", None)
    if isinstance(declared, int) and 0 < declared <= 100_000:
        limits.append(declared)
    positions = model_positions(model)
    if positions is not None:
        limits.append(positions)
    limit = min(limits) if limits else 512
    if requested is not None:
        if requested < 8:
            raise UsageError(f"{{=max_length}} {requested} is too small", "use at least 8 tokens")
        limit = min(limit, requested)
    return int(limit)


def check_positive(name: str, value: int | None) -> None:
    """Refuse ``value`` below 1, naming the parameter ``name`` (``top_k``)."""
    if value is not None and value < 1:
        raise UsageError(f"{{={name}}} must be at least 1, got {value}", f"pass a positive {{={name}}}")


#: How every task takes a text longer than the model's limit (``long=``): ``truncate`` cuts it at the
#: limit (the record says ``truncated``), ``chunk`` runs overlapping windows of it that share ``stride``
#: tokens and combines them (pooled scores, mean-pooled vectors, merged entities, competing answers).
LONG_MODES = ("truncate", "chunk")


def long_mode(long: str, stride: int | None) -> str:
    """``long`` checked against `LONG_MODES`, and ``stride`` against it (a stride needs windows).

    ``"window"``, classification's old spelling of ``"chunk"``, is taken with a `DeprecationWarning`.
    """
    if long == "window":
        warnings.warn('long="window" is deprecated; use long="chunk"', DeprecationWarning, stacklevel=3)
        long = "chunk"
    check_choice("long", long, LONG_MODES)
    if stride is not None and long != "chunk":
        raise UsageError("{=stride} applies to overlapping windows", "add {=long}=chunk, or drop {=stride}")
    return long


def check_stride(stride: int | None, room: int) -> None:
    """Refuse a ``stride`` outside ``[0, room)``: windows must move on by at least one token."""
    if stride is not None and not 0 <= stride < room:
        raise UsageError(
            f"{{=stride}} must be between 0 and {room - 1}, got {stride}", "lower {=stride} or raise {=max_length}"
        )


def torch_forward(
    model: Any,
    device: str,
    pick: Callable[[Any], Any],
    *,
    probe: Sequence[Mapping[str, Sequence[int]]] = (),
    pad_id: int = 0,
) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
    """A ``forward(batch)`` for `batching.run_sorted` that runs ``model`` under inference mode.

    ``pick`` selects the output tensor(s) from the model output; they come back
    as float32 numpy arrays with the batch on axis 0.

    On the CPU, batches of mixed lengths run packed (`nlu_toolkit.engine.packing`) once packed
    outputs on the ``probe`` features (tokenized inputs of mixed lengths) have matched
    padded ones; without ``probe``, every batch runs padded.
    """
    import torch

    from nlu_toolkit.engine.packing import PackedRunner, probe_batch

    params: set[str] | None
    try:
        import inspect

        params = set(inspect.signature(model.forward).parameters)
    except (TypeError, ValueError):
        params = None
    accepted = set(getattr(model, "main_input_names", [])) | {"input_ids", "attention_mask", "token_type_ids"}
    if params is not None:
        accepted &= params

    def numpy(out: Any) -> np.ndarray:
        if isinstance(out, tuple):
            return np.stack([o.float().cpu().numpy() for o in out], axis=-1)
        return out.float().cpu().numpy()

    def forward(batch: dict[str, np.ndarray]) -> Any:
        inputs = {k: torch.from_numpy(v).to(device) for k, v in batch.items() if k in accepted}
        with torch.inference_mode():
            return numpy(pick(model(**inputs)))

    runner = None
    if probe and params is not None and "position_ids" in params:
        runner = PackedRunner.for_model(model, device, pad_id)
    if runner is None:
        return forward

    def packed(inputs: dict[str, Any], _batch: dict[str, np.ndarray]) -> np.ndarray:
        with torch.inference_mode():
            return numpy(pick(model(**inputs)))

    return runner.wrap(forward, packed, probe_batch(list(probe), pad_id))  # type: ignore[arg-type]
