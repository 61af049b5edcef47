"""Measure the inference backends on this machine (``nlu bench``) and remember the winner for ``--backend auto``.

`bench` runs one task (embed, classify or ner) with each backend (torch, ONNX
fp32, ONNX int8) and batch size on the same texts, several times with the
backend order rotated, so machine drift hits each alike. It reports texts/s
and tokens/s with a bootstrap 95% confidence interval of the mean, and each
backend's agreement with torch on the same texts. `save` keeps the
recommendation per machine, task and model checksum; `recommended` is what
``--backend auto`` asks.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nlu_toolkit.engine import choice
from nlu_toolkit.engine.choice import machine
from nlu_toolkit.engine.options import RunOptions
from nlu_toolkit.engine.probe import MIN_AGREEMENT, default_texts
from nlu_toolkit.errors import UsageError, check_choice

TASKS = ("embed", "classify", "ner")
CANDIDATES = ("torch", "onnx", "onnx-int8", "openvino", "openvino-int8")


def default_backends() -> tuple[str, ...]:
    """Every candidate whose runtime is installed (OpenVINO is an optional extra)."""
    import importlib.util

    have_ov = importlib.util.find_spec("openvino") is not None and importlib.util.find_spec("nncf") is not None
    return tuple(b for b in CANDIDATES if have_ov or not b.startswith("openvino"))


BATCH_SIZES = (1, 8, 32)


@dataclass
class Measurement:
    """One backend at one batch size: throughput with its bootstrap 95% interval, and agreement with torch."""

    backend: str
    ran: str
    batch_size: int
    texts_per_s: float
    ci_low: float
    ci_high: float
    tokens_per_s: float
    agreement: float | None = None
    least_cosine: float | None = None
    warning: str | None = None


@dataclass
class BenchResult:
    """Everything ``nlu bench`` measured, and the backend it recommends."""

    task: str
    model: str
    model_sha256: str
    machine: dict[str, Any]
    texts: int
    tokens: int
    repeats: int
    measurements: list[Measurement] = field(default_factory=list)
    recommended: str = "torch"
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def bootstrap_ci(values: Sequence[float], *, seed: int = 0, rounds: int = 2000) -> tuple[float, float]:
    """95% bootstrap interval of the mean of ``values``."""
    data = np.asarray(values, dtype=np.float64)
    if len(data) < 2:
        return float(data.mean()), float(data.mean())
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, len(data), size=(rounds, len(data)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


class _Runner:
    """One task on one backend: ``call(texts)`` returns comparable outputs; ``batch_size`` can be changed."""

    def __init__(self, task: str, model: str | None, backend: str, *, threads: int | None, labels: Any) -> None:
        from nlu_toolkit.engine.runtime import split_choice

        name, quantize = split_choice(backend)
        run = RunOptions(device="cpu", backend=name, quantize=quantize, threads=threads)
        if task == "embed":
            from nlu_toolkit.tasks.embed import Embedder

            self.obj: Any = Embedder(model, normalize=True, run=run)
            self.call: Callable[[list[str]], Any] = lambda texts: self.obj.encode(texts)[0]
            self.tokenizer = self.obj.loaded.tokenizer
        elif task == "classify":
            from nlu_toolkit.tasks.classify import Classifier

            self.obj = Classifier(model, labels=labels, run=run)
            self.call = lambda texts: [r.label for r in self.obj.predict(texts)]
            self.tokenizer = self.obj._scorer.loaded.tokenizer
        else:
            from nlu_toolkit.tasks.ner import EntityRecognizer

            self.obj = EntityRecognizer(model, run=run)
            self.call = lambda texts: [[(e.start, e.end, e.label) for e in r.entities] for r in self.obj.predict(texts)]
            self.tokenizer = self.obj.loaded.tokenizer
        self.ran: str = self.obj.runtime
        self.warning: str | None = self.obj.runtime_warning
        self.model_info = self.obj.model_info

    def set_batch_size(self, size: int) -> None:
        self.obj.batch_size = size
        scorer = getattr(self.obj, "_scorer", None)
        if scorer is not None:
            scorer.batch_size = size
            if getattr(scorer, "embedder", None) is not None:
                scorer.embedder.batch_size = size


def _agreement(task: str, reference: Any, candidate: Any) -> tuple[float, float | None]:
    """``(agreement, least cosine)``: mean and least cosine (embed), or the share of equal outputs."""
    if task == "embed":
        a, b = np.asarray(reference), np.asarray(candidate)
        norms = np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)
        cosine = (a * b).sum(axis=1) / norms
        return float(cosine.mean()), float(cosine.min())
    same = [x == y for x, y in zip(reference, candidate, strict=True)]
    return (float(np.mean(same)) if same else 1.0), None


def bench(
    task: str = "embed",
    model: str | None = None,
    texts: Sequence[str] | None = None,
    *,
    backends: Sequence[str] | None = None,
    batch_sizes: Sequence[int] = BATCH_SIZES,
    repeats: int = 5,
    threads: int | None = None,
    labels: str | Sequence[str] | None = None,
    seed: int = 0,
    on_step: Callable[[str], None] | None = None,
) -> BenchResult:
    """Measure ``task`` on each backend and batch size; return the figures and the recommended backend.

    Args:
        task: ``embed``, ``classify`` or ``ner``.
        model: as for the task (default: the task's default model; embed: the embedded MiniLM).
        texts: the texts to time (default: 256 varied sentences).
        backends: among ``torch``, ``onnx``, ``onnx-int8``, ``openvino``, ``openvino-int8``
            (default: those whose runtime is installed).
        batch_sizes: batch sizes to time each backend at.
        repeats: timed passes over ``texts`` per backend and batch size (the bootstrap resamples them).
        threads: CPU threads for torch and ONNX Runtime (default: all cores).
        labels: zero-shot labels for ``classify`` (then it runs on embeddings).
        seed: the default texts and the bootstrap.
        on_step: called with a short description before each timed step (progress).

    The whole run takes about ``repeats * len(backends) * len(batch_sizes)`` passes over the texts.
    """
    check_choice("task", task, TASKS)
    backends = list(backends) if backends is not None else list(default_backends())
    unknown = [b for b in backends if b not in CANDIDATES]
    if unknown or not backends:
        raise UsageError(
            f"unknown backend(s) in {{=backends}}: {', '.join(unknown) or '(none)'}", f"use: {', '.join(CANDIDATES)}"
        )
    if repeats < 2:
        raise UsageError("{=repeats} must be at least 2 for a confidence interval", "e.g. {=repeats}=5")
    if not batch_sizes or min(batch_sizes) < 1:
        raise UsageError("{=batch_sizes} must be positive integers", "e.g. 1, 8 and 32")
    texts = list(texts) if texts is not None else default_texts(seed=seed)
    if not texts:
        raise UsageError("no texts to time", "give at least one text in {=texts}")
    from nlu_toolkit.models.resolver import weights_sha256

    runners = {b: _Runner(task, model, b, threads=threads, labels=labels) for b in dict.fromkeys(backends)}
    first = next(iter(runners.values()))
    tokens = sum(len(ids) for ids in first.tokenizer(texts, truncation=True)["input_ids"])
    reference = (runners.get("torch") or first).call(texts)  # also warms every path up
    agreement = {b: _agreement(task, reference, r.call(texts)) for b, r in runners.items()}
    result = BenchResult(
        task=task,
        model=first.model_info.name,
        model_sha256=weights_sha256(first.model_info),
        machine={**machine(), "threads": threads},
        texts=len(texts),
        tokens=tokens,
        repeats=repeats,
    )
    for size in batch_sizes:
        rates: dict[str, list[float]] = {b: [] for b in runners}
        order = list(runners)
        for rep in range(repeats):
            shift = rep % len(order)
            for b in order[shift:] + order[:shift]:
                if on_step:
                    on_step(f"{b}, batch {size}, pass {rep + 1}/{repeats}")
                runners[b].set_batch_size(size)
                started = time.perf_counter()
                runners[b].call(texts)
                rates[b].append(len(texts) / (time.perf_counter() - started))
        for b, values in rates.items():
            low, high = bootstrap_ci(values, seed=seed)
            mean = float(np.mean(values))
            result.measurements.append(
                Measurement(
                    b,
                    runners[b].ran,
                    size,
                    mean,
                    low,
                    high,
                    mean * tokens / len(texts),
                    *agreement[b],
                    runners[b].warning,
                )
            )
    result.recommended, result.reason = recommend(result.measurements, task)
    return result


def recommend(measurements: Sequence[Measurement], task: str = "embed") -> tuple[str, str]:
    """The backend to use, and why: the fastest at the largest batch size that ran as asked, agrees with
    torch, and whose interval lies above torch's; otherwise torch."""
    if not measurements:
        return "torch", "nothing was measured"
    size = max(m.batch_size for m in measurements)
    rows = [m for m in measurements if m.batch_size == size]
    torch_row = next((m for m in rows if m.backend == "torch"), None)
    usable = [m for m in rows if m.ran == m.backend and (m.agreement is None or m.agreement >= MIN_AGREEMENT)]
    others = [m for m in usable if m.backend != "torch"]
    if not others:
        return "torch", "no other backend ran as asked and agreed with torch"
    best = max(others, key=lambda m: m.texts_per_s)
    if torch_row is None:
        return best.backend, f"fastest at batch size {size}"
    speedup = best.texts_per_s / torch_row.texts_per_s
    if best.ci_low <= torch_row.ci_high:
        return "torch", f"{best.backend} is not clearly faster at batch size {size} ({speedup:.2f}x, intervals overlap)"
    what = "mean cosine" if task == "embed" else "agreement"
    return best.backend, f"{speedup:.2f}x torch at batch size {size}, {what} with torch {best.agreement:.4f}"


def save(result: BenchResult) -> Path:
    """Remember ``result``'s recommendation for ``--backend auto`` on this machine (atomic write)."""
    passed = sorted(
        {m.backend for m in result.measurements if m.ran == m.backend and (m.agreement or 0) >= MIN_AGREEMENT}
        | {"torch"}
    )
    entry = {
        "model": result.model,
        "recommended": result.recommended,
        "usable": passed,
        "reason": result.reason,
        "measured": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    return choice.store(result.task, result.model_sha256, entry, on=result.machine)
