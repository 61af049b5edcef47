"""Row packing: short sequences share rows of one forward pass, so a mixed batch wastes no pass on padding.

A padded batch of ``B`` sequences costs ``B * longest`` token slots in every matrix
product. When lengths vary (a server's batch of whatever requests came in), most of
those slots are padding: 16 SST-2 sentences average 13 tokens but pad to the longest,
35 on average. Packing places several sequences side by side in one row (first-fit
decreasing, rows as wide as the longest sequence), restarts the position ids at each
sequence, and gives attention a block-diagonal mask, so a token sees only its own
sequence. The encoder then runs on ``R <= B`` rows; a forward hook on the base model
scatters its output back to the ``(B, longest, hidden)`` shape that heads and pooling
expect, so every task keeps its padded-batch code.

Results equal the padded pass up to float noise: `PackedRunner` checks that on probe
inputs before its first packed pass, and never packs a model that fails the check.

Packing runs only on the CPU, where the cost of a pass grows with its token slots.
On a GPU a padded batch runs in parallel anyway, so the padded path is kept there.

``NLU_PACKING=0`` turns packing off (for comparisons; results do not change).
"""

from __future__ import annotations

import contextvars
import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

log = logging.getLogger("nlu_toolkit.engine.packing")

#: Encoders whose embeddings take ``position_ids`` and whose attention takes a 4D mask,
#: in transformers 5. Others run padded. RoBERTa-style models count positions from
#: ``pad_token_id + 1``.
PACKABLE = frozenset({"bert", "distilbert", "roberta", "xlm-roberta", "camembert", "electra"})
POSITIONS_AFTER_PAD = frozenset({"roberta", "xlm-roberta", "camembert"})
#: Attention implementations that take an explicit 4D mask (bool for SDPA, additive for eager).
MASKED_ATTENTION = frozenset({"sdpa", "eager"})
#: Packed outputs may differ from padded ones by this, relative to the largest output (float32
#: noise from other matrix shapes is ~1e-6; a position or mask error is of order 1).
TOLERANCE = 1e-3


def enabled() -> bool:
    """False when ``NLU_PACKING`` is ``0``/``false``/``no``/``off``."""
    return os.environ.get("NLU_PACKING", "1").strip().lower() not in ("0", "false", "no", "off")


# -- layout: pure numpy ---------------------------------------------------------------------


def pack_rows(lengths: Sequence[int], width: int) -> list[list[int]]:
    """First-fit decreasing: sequence indices grouped into rows of at most ``width`` tokens.

    Longest first, each into the first row with room, so few rows hold the batch. A
    sequence longer than ``width`` gets a row of its own.
    """
    rows: list[list[int]] = []
    room: list[int] = []
    for i in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        for r, free in enumerate(room):
            if lengths[i] <= free:
                rows[r].append(i)
                room[r] -= lengths[i]
                break
        else:
            rows.append([i])
            room.append(width - lengths[i])
    return rows


@dataclass(frozen=True)
class Layout:
    """Where each sequence of a padded ``(B, L)`` batch sits in the packed ``(R, W)`` one.

    ``gather`` holds, for every padded slot ``(b, j)``, the index of its token in the
    flattened packed batch (0 for padding); ``valid`` is the padded attention mask.
    """

    rows: int
    width: int
    gather: np.ndarray  # (B, L) int64
    valid: np.ndarray  # (B, L) bool


def pack_batch(
    batch: dict[str, np.ndarray], *, pad_id: int, position_offset: int = 0, width: int | None = None
) -> tuple[dict[str, np.ndarray], np.ndarray, Layout] | None:
    """Pack a right-padded batch (as `batching.pad_features` makes it) into rows of ``width``
    tokens (default: the longest sequence, so no row grows wider than the padded batch).

    Returns the packed ``input_ids`` (and ``token_type_ids``) and ``position_ids``, each
    ``(R, W)``; the segment of every packed slot (1, 2, ... per row; 0 for padding),
    from which attention's block-diagonal mask is made; and the `Layout` to unpack. None
    when packing saves no row (every row would hold one sequence): run the batch as it is.
    """
    mask = np.asarray(batch["attention_mask"]).astype(bool)
    lengths = mask.sum(axis=1).astype(np.int64)
    n, longest = mask.shape
    width = max(width or longest, longest)
    rows = pack_rows(lengths.tolist(), width)
    if len(rows) >= n:
        return None
    ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    positions = np.zeros((len(rows), width), dtype=np.int64)
    segments = np.zeros((len(rows), width), dtype=np.int64)
    types = np.zeros((len(rows), width), dtype=np.int64) if "token_type_ids" in batch else None
    gather = np.zeros((n, longest), dtype=np.int64)
    for r, members in enumerate(rows):
        start = 0
        for s, i in enumerate(members, start=1):
            k = int(lengths[i])
            ids[r, start : start + k] = batch["input_ids"][i, :k]
            positions[r, start : start + k] = np.arange(position_offset, position_offset + k)
            segments[r, start : start + k] = s
            if types is not None:
                types[r, start : start + k] = batch["token_type_ids"][i, :k]
            gather[i, :k] = r * width + start + np.arange(k)
            start += k
        # Padding keeps a valid position, so its (ignored) embeddings stay finite.
        positions[r, start:] = position_offset
    packed = {"input_ids": ids, "position_ids": positions}
    if types is not None:
        packed["token_type_ids"] = types
    return packed, segments, Layout(rows=len(rows), width=width, gather=gather, valid=mask)


# -- torch ----------------------------------------------------------------------------------

# The layout of the pass now running on this thread; the hook unpacks only inside one.
_ACTIVE: contextvars.ContextVar[tuple[Layout, Any] | None] = contextvars.ContextVar("nlu_packing", default=None)


def unsupported(model: Any, device: str) -> str | None:
    """Why ``model`` on ``device`` cannot run packed, or None when it can."""
    if device != "cpu":
        return f"packing runs on the CPU only (model on {device})"
    config = getattr(model, "config", None)
    kind = getattr(config, "model_type", None)
    if kind not in PACKABLE:
        return f"model type {kind!r} is not one packing knows"
    attention = getattr(config, "_attn_implementation", None) or "eager"
    if attention not in MASKED_ATTENTION:
        return f"attention implementation {attention!r} takes no 4D mask"
    if getattr(model, "base_model", None) is None:
        return "the model has no base encoder"
    return None


def _unpack_hook(module: Any, _args: Any, _kwargs: Any, output: Any) -> Any:
    active = _ACTIVE.get()
    if active is None or active[1].model.base_model is not module:
        return None  # not this model's packed pass: leave the output alone
    layout = active[0]
    import torch

    hidden = output[0]
    flat = hidden.reshape(-1, hidden.shape[-1])
    gather = torch.from_numpy(layout.gather).to(hidden.device)
    valid = torch.from_numpy(layout.valid).to(hidden.device)
    unpacked = flat[gather] * valid[..., None].to(hidden.dtype)
    pooler = getattr(module, "pooler", None)
    if isinstance(output, tuple):
        rest = list(output[1:])
        if pooler is not None and rest:
            rest[0] = pooler(unpacked)
        return (unpacked, *rest)
    values = {k: v for k, v in output.items() if k in ("last_hidden_state", "pooler_output")}
    values["last_hidden_state"] = unpacked
    if pooler is not None and "pooler_output" in values:
        # The pooler read the first token of each packed row; read each sequence's first token.
        values["pooler_output"] = pooler(unpacked)
    return type(output)(**values)


class PackedRunner:
    """Runs ``model`` (a transformers model with a packable base encoder) on packed batches.

    One per model object (see `for_model`): it registers the unpacking hook on the base
    encoder once; outside a packed pass the hook does nothing, so training, export and
    padded passes see the model as it is.

    Args:
        model: the model whose packed passes `run` makes (its ``base_model`` is hooked).
        pad_id: the tokenizer's padding id.
    """

    def __init__(self, model: Any, pad_id: int) -> None:
        self.model = model
        self.pad_id = pad_id
        config = model.config
        self.offset = (int(config.pad_token_id or 0) + 1) if config.model_type in POSITIONS_AFTER_PAD else 0
        base = model.base_model
        self.accepts_types = "token_type_ids" in _parameters(base.forward)
        self._handle = base.register_forward_hook(_unpack_hook, with_kwargs=True)
        #: None until checked; then True (packing is used) or False (``reason`` says why not).
        self.verified: bool | None = None
        self.reason: str | None = None
        #: Packed passes run so far (the check's included).
        self.passes = 0
        self._lock = threading.Lock()

    @classmethod
    def for_model(cls, model: Any, device: str, pad_id: int) -> PackedRunner | None:
        """The model's runner (made once and kept on the model), or None when it cannot pack."""
        if not enabled():
            return None
        why = unsupported(model, device)
        if why is not None:
            log.debug("not packing: %s", why)
            return None
        runner = model.__dict__.get("_nlu_packed_runner")
        if runner is None:
            runner = cls(model, pad_id)
            model.__dict__["_nlu_packed_runner"] = runner
        return runner

    def saves_rows(self, batch: dict[str, np.ndarray]) -> bool:
        """Whether packing ``batch`` would run fewer rows than padding it (`pack_batch` does not give up)."""
        return pack_batch(batch, pad_id=self.pad_id, position_offset=self.offset) is not None

    def inputs(self, batch: dict[str, np.ndarray], width: int | None = None) -> tuple[dict[str, Any], Layout] | None:
        """The packed model inputs (torch tensors on the CPU) and their layout, or None to run padded."""
        packed = pack_batch(batch, pad_id=self.pad_id, position_offset=self.offset, width=width)
        if packed is None:
            return None
        import torch

        arrays, segments, layout = packed
        seg = torch.from_numpy(segments)
        # Block-diagonal: a token attends to its own sequence; padding attends to padding,
        # so no query row is empty (an all-masked row would give NaN, and NaN spreads).
        allowed = seg[:, None, :, None] == seg[:, None, None, :]
        # Read per pass: an ONNX export switches the model to eager attention for a while.
        if (getattr(self.model.config, "_attn_implementation", None) or "eager") == "eager":
            mask: Any = torch.zeros(allowed.shape, dtype=torch.float32).masked_fill_(
                ~allowed, torch.finfo(torch.float32).min
            )
        else:
            mask = allowed
        inputs = {k: torch.from_numpy(v) for k, v in arrays.items() if k != "token_type_ids" or self.accepts_types}
        inputs["attention_mask"] = mask
        return inputs, layout

    def run(self, call: Callable[[dict[str, Any]], Any], inputs: dict[str, Any], layout: Layout) -> Any:
        """``call(inputs)`` with the hook unpacking the base encoder's output to the padded shape."""
        token = _ACTIVE.set((layout, self))
        self.passes += 1
        try:
            return call(inputs)
        finally:
            _ACTIVE.reset(token)

    def wrap(
        self,
        padded: Callable[[dict[str, np.ndarray]], Any],
        call: Callable[[dict[str, Any], dict[str, np.ndarray]], Any],
        probe: dict[str, np.ndarray] | None,
    ) -> Callable[[dict[str, np.ndarray]], Any]:
        """A ``forward(batch)`` that packs when it saves rows and runs ``padded(batch)`` otherwise.

        ``call(inputs, batch)`` runs the model on the packed ``inputs`` (the hook unpacks the
        encoder's output) and returns what ``padded(batch)`` would. Before the first packed
        pass, `check` compares the two on ``probe``; a model that fails always runs padded.
        """

        def packed(batch: dict[str, np.ndarray], width: int | None = None) -> Any:
            got = self.inputs(batch, width)
            if got is None:
                return padded(batch)
            inputs, layout = got
            return self.run(lambda x: call(x, batch), inputs, layout)

        def forward(batch: dict[str, np.ndarray]) -> Any:
            if self.verified is False or len(batch["input_ids"]) < 2:
                return padded(batch)
            # No check (a padded and a packed pass over the probe) until a batch would pack: a batch that
            # packing saves no rows on (two short texts) runs padded, unchecked, at no start-up cost.
            if self.verified is None and (not self.saves_rows(batch) or not self.check(padded, packed, probe)):
                return padded(batch)
            return packed(batch)

        forward.packer = self  # type: ignore[attr-defined]  # for tests and reports
        return forward

    def check(
        self,
        padded: Callable[[dict[str, np.ndarray]], Any],
        packed: Callable[[dict[str, np.ndarray], int | None], Any],
        probe: dict[str, np.ndarray] | None,
    ) -> bool:
        """Once per model: do packed outputs on the ``probe`` batch equal padded ones? Sets `verified`.

        ``packed(batch, width)`` runs a packed pass. The probe is packed into rows twice as
        wide as its longest input, so that every row holds two or more sequences, whatever
        their lengths. An error in the packed pass counts as a failed check.
        """
        with self._lock:
            if self.verified is None:
                if probe is None:
                    self.verified, self.reason = False, "no probe inputs to check packing on"
                else:
                    try:
                        candidate = packed(probe, 2 * probe["attention_mask"].shape[1])
                        self.verified, self.reason = _agree(padded(probe), candidate, probe["attention_mask"])
                    except Exception as e:  # a model that cannot take packed inputs runs padded
                        self.verified, self.reason = False, f"packed pass failed ({type(e).__name__}: {e})"
                if not self.verified:
                    log.info("not packing %s: %s", type(self.model).__name__, self.reason)
            return self.verified


def _agree(reference: Any, candidate: Any, mask: np.ndarray) -> tuple[bool, str | None]:
    ref, cand = np.asarray(reference, dtype=np.float64), np.asarray(candidate, dtype=np.float64)
    if ref.shape != cand.shape:
        return False, f"packed output shape {cand.shape} != padded {ref.shape}"
    if ref.ndim >= 2 and ref.shape[1] == mask.shape[1]:
        # Per-token outputs: padding positions hold whatever each path left there.
        valid = mask.astype(bool)
        ref, cand = ref[valid], cand[valid]
    if not np.isfinite(cand).all():
        return False, "packed output is not finite"
    scale = max(1.0, float(np.abs(ref).max(initial=0.0)))
    worst = float(np.abs(ref - cand).max(initial=0.0)) / scale
    if worst > TOLERANCE:
        return False, f"packed output differs from padded by {worst:.2e} (> {TOLERANCE:.0e})"
    return True, None


def _parameters(fn: Any) -> set[str]:
    import inspect

    try:
        return set(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return set()


def probe_batch(features: Sequence[dict[str, Sequence[int]]], pad_id: int) -> dict[str, np.ndarray] | None:
    """One padded batch of the probe ``features``, or None with fewer than two (nothing to pack)."""
    from nlu_toolkit.engine.batching import pad_features

    return pad_features(list(features), pad_id) if len(features) >= 2 else None
