"""The models behind the API: which tasks load, one worker thread per model, batched library calls.

Which tasks are served:

* without ``tasks``, every task that loads offline: ``embed``, ``similarity`` and
  zero-shot ``classify`` on the embedded MiniLM (or ``models["embed"]``), ``search``
  with an ``index``, and supervised ``classify``, ``ner`` and ``qa`` when ``models``
  names a model for them or their default hub model is already in the local HF cache
  (nothing is downloaded for a task nobody asked for);
* with ``tasks``, exactly those (plus those named in ``models``, and ``search`` with
  an ``index``).

A task asked for (by ``tasks``, ``models`` or ``index``) must load, or start-up fails
with the resolver's error. Any other task that cannot load is skipped: its endpoint
answers 503 with the reason and the flag that would serve it.

Every request becomes `Work` items for the worker of the model it needs. A worker is
a `DynamicBatcher` on one thread; it groups a batch's items by (task, group) and
makes one library call per group (e.g. one ``Classifier.predict`` for all the texts
that share a label set), so outputs equal the library's.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from nlu_toolkit._version import __version__
from nlu_toolkit.errors import ModelNotAvailable, NluError
from nlu_toolkit.serve.batcher import BatcherStopped, DynamicBatcher
from nlu_toolkit.serve.config import SERVE_TASKS, ServeConfig

log = logging.getLogger("nlu_toolkit.serve")

#: Classifiers kept per (labels, multi_label); an LRU bound, since clients choose the labels.
CLASSIFIER_CACHE = 64


@dataclass(frozen=True)
class Work:
    """One item of a request: items with equal ``(task, group)`` share one library call."""

    task: str
    group: Hashable
    payload: Any


class Task(Protocol):
    """A loaded task: which worker runs a group, how a group runs, what /models says."""

    def model_keys(self) -> list[str]: ...

    def route(self, group: Hashable) -> str: ...

    def run(self, group: Hashable, payloads: list[Any]) -> list[dict[str, Any]]: ...

    def describe(self) -> dict[str, Any]: ...


def _key(info: Any) -> str:
    # One worker per model: the same weights on the same device share a thread,
    # whatever task loaded them (embed, similarity, search and zero-shot classify
    # all run on the embedded MiniLM by default).
    return f"{info.path}@{info.device}"


def _model(info: Any) -> dict[str, Any]:
    from nlu_toolkit.models.resolver import weights_sha256

    return {**info.to_dict(), "weights_sha256": weights_sha256(info)}


def _default_cached(task: str) -> bool:
    """Whether the hub default of a resolver task is in the local HF cache (never asks the hub)."""
    from nlu_toolkit.models.presets import PRESETS, TASK_DEFAULTS
    from nlu_toolkit.models.resolver import cached_snapshot

    return cached_snapshot(PRESETS[TASK_DEFAULTS[task]].model) is not None


class _OneModel:
    """A task run by one model: its worker, and what /models says about it."""

    info: Any
    _described: dict[str, Any]

    def model_keys(self) -> list[str]:
        return [_key(self.info)]

    def route(self, group: Hashable) -> str:
        return _key(self.info)

    def describe(self) -> dict[str, Any]:
        return self._described


class EmbedTask(_OneModel):
    """``/embed``: ``{"id", "truncated", ...passthrough, "embedding"}`` per text, as ``nlu embed`` writes."""

    def __init__(self, spec: str, options: dict[str, Any]) -> None:
        from nlu_toolkit.tasks.embed import Embedder

        # Two views of one loaded model (the resolver caches it): raw and unit-length vectors.
        self.embedders = {flag: Embedder(spec, normalize=flag, **options) for flag in (False, True)}
        self.info = self.embedders[False].model_info
        self._described = {"model": _model(self.info), "dimension": self.embedders[False].dimension}

    def run(self, group: Hashable, payloads: list[Any]) -> list[dict[str, Any]]:
        from nlu_toolkit.records import with_fields
        from nlu_toolkit.tasks.common import passthrough

        vectors, truncated = self.embedders[bool(group)].encode([r["text"] for r in payloads])
        # A sent field named "truncated" or "embedding" comes back as input_<name>, never over the answer.
        return [
            with_fields({"id": r["id"], **passthrough(r, ["text"])}, truncated=t, embedding=v.tolist())
            for r, v, t in zip(payloads, vectors, truncated, strict=True)
        ]


class SimilarityTask(_OneModel):
    """``/similarity``: ``{"a", "b", "score"}`` per pair, from `nlu_toolkit.similarity`."""

    def __init__(self, spec: str, options: dict[str, Any]) -> None:
        from nlu_toolkit.tasks.embed import Embedder

        # One embedder for the life of the server: building one per batch would re-run the ONNX probe check.
        self.embedder = Embedder(spec, normalize=True, **options)
        self.info = self.embedder.model_info
        self._described = {"model": _model(self.info)}

    def run(self, group: Hashable, payloads: list[Any]) -> list[dict[str, Any]]:
        from nlu_toolkit.tasks.embed import pair_scores

        return pair_scores(self.embedder, [a for a, _ in payloads], [b for _, b in payloads])


class SearchTask(_OneModel):
    """``/search``: one ``{"query_index", "query", "hits"}`` record per query, on a saved index."""

    def __init__(self, path: str, spec: str | None, options: dict[str, Any]) -> None:
        from nlu_toolkit.search.api import open_index

        self.path = path
        # Opened for the life of the server (every request searches it); `close` closes it.
        self._open = contextlib.ExitStack()
        self.index = self._open.enter_context(open_index(index=path, model=spec, **options))
        self.info = self.index.model_info
        manifest = self.index.manifest
        self._described = {
            "model": _model(self.info),
            "index": {
                "path": path,
                "count": len(self.index),
                **{k: manifest.get(k) for k in ("dimension", "precision", "backend", "created", "corpus_fingerprint")},
            },
        }

    def run(self, group: Hashable, payloads: list[Any]) -> list[dict[str, Any]]:
        if not isinstance(group, tuple):
            return [r.to_dict() for r in self.index.search(payloads, top_k=int(group))]  # type: ignore[arg-type]
        top_k, where = group
        return [r.to_dict() for r in self.index.search(payloads, top_k=int(top_k), where=where)]  # type: ignore

    def check_where(self, where: str) -> None:
        """Refuse a ``where`` this index cannot apply, before the request joins a batch (an error there
        would fail the other requests of the batch too)."""
        from nlu_toolkit.search.api import check_where

        check_where(self.index, where)

    def close(self) -> None:
        """Close the index: its staging folder (``nlu-index-*`` in the temp dir) is removed."""
        self._open.close()


class _PredictTask(_OneModel):
    """``/ner`` and ``/qa``: a loaded predictor whose ``predict(records)`` yields records in order."""

    def __init__(self, predictor: Any) -> None:
        self.predictor = predictor
        self.info = predictor.model_info
        self._described = {"model": _model(self.info)}

    def run(self, group: Hashable, payloads: list[Any]) -> list[dict[str, Any]]:
        return [r.to_dict() for r in self.predictor.predict(payloads)]


class ClassifyTask:
    """``/classify``: a supervised model for requests without labels, zero-shot for requests with them.

    Zero-shot follows `Classifier`: a sentence-transformers model (the embedded MiniLM
    when no classify model is given) scores by embedding similarity, an NLI model by
    entailment. Requests are grouped by ``(labels, multi_label)``; each group gets a
    `Classifier` (cached, LRU), so the records equal ``Classifier(...).predict``'s.
    """

    def __init__(self, spec: str | None, *, must: bool, options: dict[str, Any]) -> None:
        from nlu_toolkit.models.resolver import is_nli, is_sentence_transformer, load_model, locate
        from nlu_toolkit.tasks.classify import Classifier
        from nlu_toolkit.tasks.zero_shot_cache import ZeroShotCache

        self.spec = spec
        self.supervised: Any = None
        self.zero_shot_spec: str | None = None
        self.reason = ""
        # Thread-safe: the supervised and the zero-shot model may have different worker threads.
        self._cache = ZeroShotCache(CLASSIFIER_CACHE, **options)
        if spec is not None and is_sentence_transformer(locate(spec, "zero-shot").path):
            self.zero_shot_spec = spec
            self.reason = f"classify model {spec!r} is a sentence-transformers model, with no labels of its own"
        else:
            if spec is not None or must or _default_cached("text-classification"):
                try:
                    self.supervised = Classifier(spec, **options)
                except NluError as e:
                    if must and spec is None and isinstance(e, ModelNotAvailable):
                        # The resolver's hint speaks of `nlu classify`; say how the server classifies offline.
                        hint = (
                            f"{e.hint_template}; or serve zero-shot classification offline: --model classify=embedded"
                        )
                        raise ModelNotAvailable(e.template, hint) from e
                    if must:
                        raise
                    self.reason = f"its default model failed to load ({e.message})"
            else:
                self.reason = "no model was given and the default sentiment model is not in the local HF cache"
            if spec is None:
                self.zero_shot_spec = "embedded"  # the spec embed uses, so the resolver loads the model once
            elif is_nli(load_model(spec, "text-classification", device=options.get("device")).model.config):
                self.zero_shot_spec = spec
        self.zero_shot_info = None
        if self.zero_shot_spec is not None:
            # Loads the zero-shot model now rather than on the first request.
            self.zero_shot_info = self._classifier((("yes", "no"), None)).model_info
            self._cache.clear()
        self._described = {
            "model": _model(self.supervised.model_info) if self.supervised else None,
            "labels": list(self.supervised.labels) if self.supervised else None,
            "zero_shot_model": _model(self.zero_shot_info) if self.zero_shot_info else None,
        }

    def model_keys(self) -> list[str]:
        infos = [self.supervised.model_info if self.supervised else None, self.zero_shot_info]
        return [_key(i) for i in infos if i is not None]

    def route(self, group: Hashable) -> str:
        labels, _ = group  # type: ignore[misc]
        if labels is None:
            if self.supervised is None:
                raise ModelNotAvailable(
                    f"this server classifies zero-shot only: {self.reason}",
                    'send "labels": [...], or restart nlu serve with --model classify=PATH',
                )
            return _key(self.supervised.model_info)
        if self.zero_shot_info is None:
            raise ModelNotAvailable(
                f"classify model {self.supervised.model_info.name!r} is neither an NLI nor a sentence-transformers "
                "model, so it cannot score labels of your choice",
                'drop "labels" to use the model\'s own labels, or restart nlu serve with --model classify=embedded',
            )
        return _key(self.zero_shot_info)

    def _classifier(self, group: Hashable) -> Any:
        labels, multi_label = group  # type: ignore[misc]
        spec = self.spec if labels is None else self.zero_shot_spec
        return self._cache.get(spec, labels, multi_label=multi_label)

    def run(self, group: Hashable, payloads: list[Any]) -> list[dict[str, Any]]:
        classifier = self.supervised if group == (None, None) else self._classifier(group)
        return [r.to_dict() for r in classifier.predict(payloads)]

    def describe(self) -> dict[str, Any]:
        return self._described


class Service:
    """Loads the tasks of a `ServeConfig` and runs requests on one batching worker per model.

    Raises (from the constructor) the resolver's errors for a task that was asked for
    and cannot load: `ModelNotAvailable`, `UsageError`, `IndexCorrupted`, `ModelMismatch`.
    """

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        if config.threads:
            import torch

            torch.set_num_threads(config.threads)  # process-wide: torch has no per-model pool
        self.tasks: dict[str, Task] = {}
        self.skipped: dict[str, ModelNotAvailable] = {}
        self._load()
        if not self.tasks:
            reasons = "; ".join(str(e) for e in self.skipped.values())
            raise ModelNotAvailable(f"no task could be loaded ({reasons})", "name a model: --model TASK=PATH")
        self.workers: dict[str, DynamicBatcher[Work, dict[str, Any]]] = {}
        for name, task in self.tasks.items():
            for key in task.model_keys():
                if key not in self.workers:
                    self.workers[key] = DynamicBatcher(
                        self._dispatch,
                        max_batch_size=config.max_batch_size if config.batching else 1,
                        max_wait_ms=config.max_wait_ms if config.batching else 0.0,
                        idle_ms=config.idle_ms,
                        name=f"nlu-serve-{name}-{len(self.workers)}",
                    )

    # -- loading ------------------------------------------------------------------------

    def _load(self) -> None:
        config = self.config
        requested = config.requested
        wanted = requested if config.tasks else SERVE_TASKS
        for task in SERVE_TASKS:
            if task not in wanted:
                asked = " ".join(f"--task {t}" for t in config.tasks)
                self.skipped[task] = ModelNotAvailable(
                    f"the {task} endpoint is not served: nlu serve was started with {asked}",
                    f"restart nlu serve with --task {task} as well",
                )
                continue
            must = task in requested
            try:
                self.tasks[task] = self._load_task(task, must)
            except _Skip as e:
                self.skipped[task] = ModelNotAvailable(f"the {task} endpoint is not served: {e.args[0]}", e.args[1])
            except NluError as e:
                if must:
                    raise
                self.skipped[task] = ModelNotAvailable(
                    f"the {task} endpoint is not served: {e.template}", e.hint_template
                )
            if task in self.tasks:
                log.info("loaded %s", task)

    def _load_task(self, task: str, must: bool) -> Task:
        from nlu_toolkit.tasks.ner import EntityRecognizer
        from nlu_toolkit.tasks.qa import QuestionAnswerer

        config, models = self.config, self.config.models
        options: dict[str, Any] = {
            "batch_size": config.batch_size,
            "device": config.device,
            "runtime": config.backend,
            "quantize": config.quantize,
            "threads": config.threads,
        }
        if task == "embed":
            return EmbedTask(models.get("embed", "embedded"), options)
        if task == "similarity":
            return SimilarityTask(models.get("similarity") or models.get("embed", "embedded"), options)
        if task == "search":
            if config.index is None:
                raise _Skip("no index was given", "restart nlu serve with --index DIR (build one: nlu index build)")
            return SearchTask(config.index, models.get("search"), options)
        if task == "classify":
            return ClassifyTask(models.get("classify"), must=must, options=options)
        resolver_task = {"ner": "token-classification", "qa": "question-answering"}[task]
        spec = models.get(task)
        if spec is None and not must and not _default_cached(resolver_task):
            raise _Skip(
                "no model was given and the default model is not in the local HF cache",
                f"restart nlu serve with --model {task}=PATH (or --task {task} to fetch the default)",
            )
        predictor = EntityRecognizer if task == "ner" else QuestionAnswerer
        return _PredictTask(predictor(spec, **options))

    # -- running ------------------------------------------------------------------------

    def start(self) -> None:
        """Start every worker thread."""
        for worker in self.workers.values():
            worker.start()

    def stop(self, timeout: float | None = 30.0) -> None:
        """Finish the queued work and end every worker thread."""
        for worker in self.workers.values():
            worker.stop(timeout)

    def close(self) -> None:
        """Release what the loaded tasks hold outside memory (an index's staging folder); after `stop`."""
        for task in self.tasks.values():
            close = getattr(task, "close", None)
            if close is not None:
                close()

    def task(self, name: str) -> Task:
        """The loaded task, or `ModelNotAvailable` saying why it is not served and which flag serves it."""
        if name in self.tasks:
            return self.tasks[name]
        raise self.skipped[name]

    async def run(self, name: str, group: Hashable, payloads: Sequence[Any]) -> list[dict[str, Any]]:
        """Run ``payloads`` (one request) through the worker of the model that ``group`` needs."""
        worker = self.workers[self.task(name).route(group)]
        try:
            return await worker.run([Work(name, group, p) for p in payloads])
        except NluError:
            raise
        except BatcherStopped as e:
            raise ModelNotAvailable("the server is shutting down", "retry in a moment") from e
        except Exception as e:
            # Not the client's fault and not foreseen: the traceback goes to the server log only.
            log.exception("%s failed", name)
            raise TaskFailed(f"{name} failed: {type(e).__name__}: {e}", "the server log has the details") from e

    def _dispatch(self, items: list[Work]) -> list[dict[str, Any]]:
        # Runs on a worker thread: one library call per (task, group), outputs back in item order.
        groups: dict[tuple[str, Hashable], list[int]] = {}
        for i, work in enumerate(items):
            groups.setdefault((work.task, work.group), []).append(i)
        outputs: list[Any] = [None] * len(items)
        for (name, group), positions in groups.items():
            results = self.tasks[name].run(group, [items[i].payload for i in positions])
            for i, result in zip(positions, results, strict=True):
                outputs[i] = result
        return outputs

    # -- reporting ----------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        """Per task: the model that runs it (with its weights checksum), or why it is not served."""
        out: dict[str, Any] = {}
        for name in SERVE_TASKS:
            if name in self.tasks:
                out[name] = {"served": True, **self.tasks[name].describe()}
            else:
                error = self.skipped[name]
                out[name] = {"served": False, "error": error.message, "hint": error.hint}
        return out

    def health(self) -> dict[str, Any]:
        """Liveness, the served tasks, the batching settings and each worker's counters."""
        config = self.config
        return {
            "status": "ok",
            "version": __version__,
            "tasks": list(self.tasks),
            "batching": {
                "enabled": config.batching,
                "max_batch_size": config.max_batch_size,
                "max_wait_ms": config.max_wait_ms,
                "idle_ms": config.idle_ms,
                "batch_size": config.batch_size,
            },
            "workers": {w.name: w.stats.to_dict() for w in self.workers.values()},
        }


class TaskFailed(NluError):
    """A request failed for a reason that is neither bad input nor a missing model (answered as 500)."""


class _Skip(Exception):
    """A task that was not asked for and cannot load offline: ``(reason, hint)``."""
