"""The checked settings of the generation tasks: the run options they honour, the output length bounds
and how a long document's summary is brought under its bound (`reduce_rounds`).

Generation calls ``model.generate`` on torch, so of `RunOptions` it honours the device, the batch
size (seq2seq), the input token limit, the threads and trust_remote_code; an exported backend or a
quantization is refused here rather than silently ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from nlu_toolkit.engine.options import RunOptions
from nlu_toolkit.errors import UsageError


def resolve_lengths(
    min_length: int | None, max_length: int | None, defaults: Mapping[str, Any]
) -> tuple[int | None, int | None]:
    """Effective (min_length, max_length) for ``generate``, never an invalid pair.

    The user's values win over the model's generation defaults. Both given with
    min > max is a usage error; a lone ``max_length`` below the model's default
    minimum lowers that minimum (distilbart-cnn ships min 56, so ``max_length=45``
    alone must not crash inside ``generate``), and a lone ``min_length`` above the
    default maximum raises the maximum.
    """
    for name, value in (("min_length", min_length), ("max_length", max_length)):
        if value is not None and value < 0:
            raise UsageError(f"{{={name}}} must be >= 0, got {value}", f"pass a non-negative {{={name}}}")
    if min_length is not None and max_length is not None and min_length > max_length:
        raise UsageError(
            f"{{=min_length}} {min_length} is greater than {{=max_length}} {max_length}", "lower {=min_length}"
        )
    lo = min_length if min_length is not None else defaults.get("min_length")
    hi = max_length if max_length is not None else defaults.get("max_length")
    if lo is not None and hi is not None and lo > hi:
        if max_length is not None:
            lo = hi
        else:
            hi = lo
    return lo, hi


def generation_run(
    run: RunOptions | None, options: dict[str, Any], *, batch_size: int | None, max_input_length: int | None = None
) -> RunOptions:
    """The `RunOptions` of a generation task: ``run`` with ``options`` over it, on torch only.

    Generation calls ``model.generate``, which has no exported graph: a ``backend`` other than
    torch, or a ``quantize``, is refused rather than ignored. ``batch_size`` is the task's own
    default, used when no ``run`` is given (8 for seq2seq); None means the task does not batch, so
    a batch size other than the default is refused too. ``max_input_length`` (the seq2seq tasks'
    keyword for the encoder's limit) sets ``max_length``, the input token limit of `RunOptions`.
    The threads are torch's (process-wide): the task sets them (`runtime.set_torch_threads`).
    """
    # Checked before merging: RunOptions would answer a lone quantize with "needs backend onnx".
    backend = options.get("backend", options.get("runtime", getattr(run, "backend", "torch")))
    quantize = options.get("quantize", getattr(run, "quantize", None))
    if backend != "torch":
        raise UsageError(f"generation runs on torch only, not {{=backend}} {backend!r}", "leave {=backend} out")
    if quantize is not None:
        raise UsageError(
            f"generation runs on torch only: {{=quantize}} {quantize!r} needs an exported graph",
            "leave {=quantize} out",
        )
    if max_input_length is not None:
        if max_input_length < 8:
            raise UsageError(f"{{=max_input_length}} {max_input_length} is too small", "use at least 8 tokens")
        options = {**options, "max_length": max_input_length}
    if run is None and batch_size is not None:
        options = {"batch_size": batch_size, **options}
    run = RunOptions.merge(run, **options)
    if batch_size is None and run.batch_size != RunOptions.batch_size:
        raise UsageError(
            f"this task generates one prompt at a time; {{=batch_size}} {run.batch_size} does not apply",
            "leave {=batch_size} out",
        )
    return run


def reduce_rounds(
    joined: Sequence[str],
    several: Sequence[bool],
    bound: int | None,
    chunks: Callable[[str], list[str]],
    run: Callable[[list[str]], list[str]],
    count: Callable[[str], int],
    max_rounds: int,
) -> tuple[list[str], list[int]]:
    """Map-reduce: the summaries of a long document's chunks, joined, summarized again until they fit.

    ``joined[i]`` is document i's chunk summaries joined (round 1); ``several[i]`` whether it had more
    than one chunk (one summary is already within ``bound`` tokens, as ``generate`` made it). While a
    joined text is over ``bound`` (counted by ``count``), it is cut by ``chunks`` into pieces that fit the
    encoder, the pieces are summarized by ``run`` (every document still over, in one call per round) and
    their summaries joined again. A document stops when it fits, after ``max_rounds`` rounds, or when a
    round no longer shortens it (a ``min_length`` near the encoder's limit). Returns the texts and each
    document's rounds.
    """
    texts = list(joined)
    rounds = [1] * len(texts)
    if bound is None:
        return texts, rounds
    lengths = {i: count(t) for i, t in enumerate(texts) if several[i]}
    active = [i for i, n in lengths.items() if n > bound and max_rounds > 1]
    while active:
        pieces: list[str] = []
        owner: list[int] = []
        for i in active:
            for piece in chunks(texts[i]):
                pieces.append(piece)
                owner.append(i)
        outputs = run(pieces)
        still = []
        for i in active:
            outs = [o for o, r in zip(outputs, owner, strict=True) if r == i and o]
            texts[i], rounds[i] = " ".join(outs), rounds[i] + 1
            before, lengths[i] = lengths[i], count(texts[i])
            if len(outs) > 1 and bound < lengths[i] < before and rounds[i] < max_rounds:
                still.append(i)
        active = still
    return texts, rounds
