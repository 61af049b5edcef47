"""`inspect_text`: the function behind `nlu inspect`, checking option combinations before the model loads."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np

from nlu_toolkit.engine.options import RunFields, RunOptions
from nlu_toolkit.errors import UsageError
from nlu_toolkit.tasks.common import Inputs, as_records
from nlu_toolkit.tasks.inspect.attention import check_index, plot_format
from nlu_toolkit.tasks.inspect.inspector import Inspector
from nlu_toolkit.tasks.inspect.vectors import save_vectors

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing.Unpack is Python 3.11+


def _texts(inputs: Inputs) -> list[dict[str, Any]]:
    return list(as_records(inputs))


def inspect_text(
    texts: Inputs,
    model: str | None = None,
    *,
    attention: str | os.PathLike[str] | None = None,
    layer: int | None = None,
    head: int | None = None,
    vectors: bool = False,
    vectors_out: str | os.PathLike[str] | None = None,
    similarity: str | None = None,
    run: RunOptions | None = None,
    **options: Unpack[RunFields],
) -> list[dict[str, Any]]:
    """What `nlu inspect` does, as records.

    Without options: one tokenization record per text (see `Inspector.tokens`), with its ``id``.

    - ``attention=FILE`` (one text): draw the attention heatmap of ``layer``/``head`` to FILE; the record
      gets ``"attention": {"path", "layer", "head"}`` (head None: the mean of the heads).
    - ``vectors=True``: each token gets its contextual ``vector`` (a list) and its ``norm``.
    - ``vectors_out=FILE`` (one text): save the ``(n_tokens, hidden)`` float32 array as .npy, atomically.
    - ``similarity=WORD`` (exactly two texts): one record instead, from `Inspector.word_similarity`.

    ``layer`` (default: the last) applies to attention, vectors and similarity; ``head`` to attention only.
    ``run`` (or its fields as keywords: ``device``, ``max_length``, ``trust_remote_code``) is how the
    model runs, as for `Inspector`. Option combinations are checked before the model loads.
    """
    run = RunOptions.merge(run, **options)
    records = _texts(texts)
    n = len(records)
    if similarity is not None:
        if attention is not None or vectors or vectors_out is not None:
            raise UsageError(
                "{=similarity} cannot be combined with {=attention}, {=vectors} or {=vectors_out}", "run them apart"
            )
        if n != 2:
            raise UsageError(
                f"{{=similarity}} compares a word in exactly two texts, got {n}",
                'e.g. the texts "I sat on the bank of the river" and "I put money in the bank" with {=similarity}=bank',
            )
        if not similarity.strip():
            raise UsageError("{=similarity} needs a word", "e.g. {=similarity}=bank")
    for option, value in (("attention", attention), ("vectors_out", vectors_out)):
        if value is not None and n != 1:
            raise UsageError(f"{{={option}}} works on one text, got {n}", "pass a single text")
    if head is not None and attention is None:
        raise UsageError("{=head} applies to {=attention}", "add {=attention}=FILE.png, or drop {=head}")
    if layer is not None and attention is None and not vectors and vectors_out is None and similarity is None:
        raise UsageError(
            "{=layer} applies to {=attention}, {=vectors}, {=vectors_out} and {=similarity}",
            "add one, or drop {=layer}",
        )
    if attention is not None:
        plot_format(attention)
    inspector = Inspector(model, run=run)
    if similarity is not None:
        return [inspector.word_similarity(records[0]["text"], records[1]["text"], similarity, layer)]
    # Check the layer and head before any work, so a bad index writes nothing.
    layer_index = inspector.layer_index(layer)
    if head is not None and inspector.n_heads > 0:
        check_index(head, inspector.n_heads, "head")
    out: list[dict[str, Any]] = []
    for record in records:
        text = record["text"]
        result = {"id": record["id"], **inspector.tokens(text)}
        if attention is not None:
            inspector.plot_attention(text, attention, layer_index, head)
            result["attention"] = {
                "path": str(attention),
                "layer": layer_index,
                "head": None if head is None else head % inspector.n_heads,
                "heads": inspector.n_heads,
            }
        if vectors or vectors_out is not None:
            _, matrix = inspector.vectors(text, layer_index)
            if vectors:
                norms = np.linalg.norm(matrix, axis=1)
                for token, vector, norm in zip(result["tokens"], matrix.tolist(), norms.tolist(), strict=True):
                    token["vector"] = vector
                    token["norm"] = norm
            if vectors_out is not None:
                save_vectors(matrix, vectors_out)
                result["vectors_out"] = str(vectors_out)
                result["vectors_shape"] = list(matrix.shape)
            result["layer"] = layer_index
        out.append(result)
    return out
