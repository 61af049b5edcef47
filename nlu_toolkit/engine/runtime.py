"""Inference backends: one place that turns ``--backend torch|onnx|auto`` and ``--quantize`` into a forward pass.

Every task runs its model through a ``forward(batch) -> ndarray`` on the shared
length-sorted batching path (`batching.run_sorted`). `select_forward` returns
either the torch forward or an ONNX Runtime one built from a cached export
(`onnx_backend`), after checking the ONNX outputs against torch on probe
inputs. A graph that disagrees is never used: the task runs torch and the
returned `Backend` carries a one-line warning for the CLI to print.

``auto`` asks `engine.choice.recommended` for the fastest backend that ``nlu bench``
measured for this task and model on this machine, and otherwise runs torch.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nlu_toolkit.engine.options import BACKENDS, RunOptions
from nlu_toolkit.engine.probe import MIN_AGREEMENT
from nlu_toolkit.errors import NluError

__all__ = ["BACKENDS", "Backend", "check_backend", "resolve_auto", "select_forward"]


Forward = Callable[[dict[str, np.ndarray]], np.ndarray]


@dataclass
class Backend:
    """The forward pass a task runs, what it is, and why it is not the one asked for (if so)."""

    forward: Forward
    name: str  # "torch", "onnx" or "onnx-int8"
    warning: str | None = None


def check_backend(backend: str, quantize: str | None) -> None:
    """Refuse unknown backends and quantizations, and ``--quantize`` with torch."""
    RunOptions(backend=backend, quantize=quantize)  # checks both, naming the parameters


def resolve_auto(
    backend: str, quantize: str | None, *, task: str, model_sha: str | Callable[[], str]
) -> tuple[str, str | None]:
    """Turn ``auto`` into the backend ``nlu bench`` recommended for ``task`` and this model here, else torch.

    With ``auto``, ``--quantize int8`` limits the choice to int8 graphs. ``model_sha`` may be a
    callable: hashing a model's weights costs a read of every weights file, so only ``auto`` pays it.
    """
    check_backend(backend, quantize)
    if backend != "auto":
        return backend, quantize
    from nlu_toolkit.engine.choice import measured, recommended

    if not measured(task):  # nothing benchmarked here: torch, without hashing the weights
        return "torch", None
    sha = model_sha() if callable(model_sha) else model_sha
    choice = recommended(task, sha, quantize=quantize)
    if choice is None or choice == "torch":
        return "torch", None
    return split_choice(choice)


def split_choice(choice: str) -> tuple[str, str | None]:
    """``"onnx-int8"`` -> ``("onnx", "int8")``; ``"openvino"`` -> ``("openvino", None)``."""
    name, _, quantize = choice.partition("-")
    return name, quantize or None


def backend_name(backend: str, quantize: str | None) -> str:
    """The name a backend runs under in records and `nlu bench`: ``onnx``, ``onnx-int8``, ``openvino-int8``..."""
    return f"{backend}-{quantize}" if quantize else backend


def set_torch_threads(threads: int | None) -> None:
    """Set torch's CPU threads (process-wide: torch has no per-model pool)."""
    if threads:
        import torch

        torch.set_num_threads(threads)


def onnx_session(
    model: Any,
    tokenizer: Any,
    *,
    head: str,
    quantize: str | None,
    threads: int | None,
    info: Any,
    backend: str = "onnx",
) -> Any:
    """The ONNX Runtime (or OpenVINO) session for ``model`` with ``head``: exported once per checksum
    and settings, cached on disk, and shared in memory per graph and thread count."""
    from nlu_toolkit.engine import onnx_backend
    from nlu_toolkit.models.resolver import weights_sha256

    sha = weights_sha256(info)
    if backend == "openvino":
        from nlu_toolkit.engine import openvino_backend

        openvino_backend._ov()  # the missing-extra error before any export work
        folder = openvino_backend.export_dir(sha, quantize, head)
        path = folder / "model.xml"
        if not path.is_file():
            path = openvino_backend.export(model, tokenizer, folder, quantize, head=head, model_name=info.name)
        make = lambda: openvino_backend.OpenVinoEncoder(path, quantize=quantize, threads=threads)  # noqa: E731
    else:
        folder = onnx_backend.export_dir(sha, quantize, head)
        path = folder / "model.onnx"
        if not path.is_file():
            path = onnx_backend.export(model, tokenizer, folder, quantize, head=head, model_name=info.name)
        make = lambda: onnx_backend.OnnxEncoder(path, threads=threads)  # noqa: E731
    # Sessions are thread-safe and cost a graph load each: share one per graph and thread count
    # (a server builds a classifier per label set; each would otherwise load its own).
    key = (str(path), threads)
    with _SESSIONS_LOCK:
        if key not in _SESSIONS:
            _SESSIONS[key] = make()
        return _SESSIONS[key]


_SESSIONS: dict[tuple[str, int | None], Any] = {}
_SESSIONS_LOCK = threading.Lock()


def select_forward(
    loaded: Any,
    head: str,
    torch_forward: Forward,
    *,
    task: str,
    backend: str = "torch",
    quantize: str | None = None,
    threads: int | None = None,
    probe: Sequence[dict[str, Sequence[int]]] = (),
) -> Backend:
    """The forward pass for ``loaded`` (a `LoadedModel`) on ``backend``, checked on ``probe`` features.

    ``probe`` holds tokenized features (as `batching.run_sorted` takes them); the ONNX
    graph is used only if its argmax predictions (labels, token tags, answer start and
    end) agree with torch's on at least `MIN_AGREEMENT` of them.
    """
    from nlu_toolkit.models.resolver import weights_sha256

    backend, quantize = resolve_auto(backend, quantize, task=task, model_sha=lambda: weights_sha256(loaded.info))
    if backend == "torch":
        set_torch_threads(threads)
        return Backend(torch_forward, "torch")
    session, warning = open_session(
        loaded.model, loaded.tokenizer, loaded.info, head=head, backend=backend, quantize=quantize, threads=threads
    )
    if session is None:
        return Backend(torch_forward, "torch", warning)
    if probe:
        agreement = probe_agreement(torch_forward, session, probe, head, pad_id=loaded.tokenizer.pad_token_id or 0)
        if agreement < MIN_AGREEMENT:
            what = {"token-classification": "token tags", "question-answering": "answer boundaries"}.get(head, "labels")
            detail = f"{agreement:.1%} of probe {what} agree, < {MIN_AGREEMENT:.0%}"
            return Backend(torch_forward, "torch", disagreement(backend, quantize, detail))
    return Backend(session, backend_name(backend, quantize))


def open_session(
    model: Any, tokenizer: Any, info: Any, *, head: str, backend: str, quantize: str | None, threads: int | None
) -> tuple[Any | None, str | None]:
    """`onnx_session` for ``backend`` (onnx or openvino), or ``(None, why torch runs instead)``.

    Torch runs when the model sits on an accelerator (both engines run on the CPU here) or
    when the export fails: a converter's limits must not stop a task that torch can do.
    """
    engine = "OpenVINO" if backend == "openvino" else "ONNX Runtime"
    if info.device != "cpu":
        return None, f"{engine} runs on the CPU; on {info.device} torch runs"
    try:
        session = onnx_session(
            model, tokenizer, head=head, quantize=quantize, threads=threads, info=info, backend=backend
        )
    except NluError:
        raise
    except Exception as e:
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        return (
            None,
            f"cannot run this model on {engine} {quantize or 'fp32'} ({type(e).__name__}: {reason}); using torch",
        )
    return session, None


def disagreement(backend: str, quantize: str | None, detail: str) -> str:
    """The warning when a graph fails its probe check against torch."""
    graph = "OpenVINO" if backend == "openvino" else "ONNX"
    return f"the {graph} {quantize or 'fp32'} graph disagrees with torch ({detail}); using torch"


def probe_agreement(
    reference: Forward, candidate: Forward, features: Sequence[dict[str, Sequence[int]]], head: str, *, pad_id: int
) -> float:
    """Share of argmax predictions on ``features`` where ``candidate`` agrees with ``reference``.

    Sequence classification compares one label per input; token classification one
    tag per real (unpadded) token; question answering the start and the end position.
    """
    from nlu_toolkit.engine.batching import pad_features

    same: list[np.ndarray] = []
    for feature in features:
        # One input per call: dynamic int8 scales activations per batch, so padding would
        # measure the batch's make-up as much as the graph.
        batch = pad_features([feature], pad_id)
        ref, cand = np.asarray(reference(batch))[0], np.asarray(candidate(batch))[0]
        if head == "question-answering":  # (seq, 2) start/end logits
            same.append(ref.argmax(0) == cand.argmax(0))
        else:  # a label per input, or a tag per token
            same.append(np.atleast_1d(ref.argmax(-1) == cand.argmax(-1)))
    flat = np.concatenate(same) if same else np.ones(1, dtype=bool)
    return float(flat.mean())
