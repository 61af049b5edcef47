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
that share a label set), so outputs equal the library's. What each task runs is
`nlu_toolkit.serve.tasks`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from nlu_toolkit._version import __version__
from nlu_toolkit.engine.meter import token_meter
from nlu_toolkit.errors import ModelNotAvailable, NluError
from nlu_toolkit.serve.batcher import BatcherStopped, DynamicBatcher
from nlu_toolkit.serve.config import SERVE_TASKS, ServeConfig
from nlu_toolkit.serve.tasks import (
    ClassifyTask,
    EmbedTask,
    PredictTask,
    RerankTask,
    SearchTask,
    SimilarityTask,
    Task,
    default_cached,
)

log = logging.getLogger("nlu_toolkit.serve")


@dataclass(frozen=True)
class Work:
    """One item of a request: items with equal ``(task, group)`` share one library call."""

    task: str
    group: Hashable
    payload: Any


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
        #: Seconds each loaded task took to load (a model the resolver already holds loads in ~0 s).
        self.load_seconds: dict[str, float] = {}
        #: Called after each worker batch as ``(task, items, tokens)``, per task in it (`serve.metrics`).
        self.observers: list[Callable[[str, int, int], None]] = []
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
                started = time.perf_counter()
                self.tasks[task] = self._load_task(task, must)
                self.load_seconds[task] = time.perf_counter() - started
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
        if task == "rerank":  # a cross-encoder, only when given (ServeConfig refuses --task rerank without one)
            if "rerank" not in models:
                raise _Skip("no cross-encoder was given", "restart nlu serve with --model rerank=PATH")
            return RerankTask(models["rerank"], options)
        resolver_task = {"ner": "token-classification", "qa": "question-answering"}[task]
        spec = models.get(task)
        if spec is None and not must and not default_cached(resolver_task):
            raise _Skip(
                "no model was given and the default model is not in the local HF cache",
                f"restart nlu serve with --model {task}=PATH (or --task {task} to fetch the default)",
            )
        predictor = EntityRecognizer if task == "ner" else QuestionAnswerer
        return PredictTask(predictor(spec, **options))

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
        done: dict[str, list[int]] = {}  # per task: [items, tokens], reported once the batch succeeded
        for (name, group), positions in groups.items():
            with token_meter() as meter:  # the tokens the model ran on, counted as the batches are built
                results = self.tasks[name].run(group, [items[i].payload for i in positions])
            for i, result in zip(positions, results, strict=True):
                outputs[i] = result
            counts = done.setdefault(name, [0, 0])
            counts[0] += len(positions)
            counts[1] += meter.tokens
        for observe in self.observers:
            for name, (count, tokens) in done.items():
                observe(name, count, tokens)
        return outputs

    def queue_depth(self) -> dict[str, int]:
        """Per served task, the items waiting for their worker (a snapshot)."""
        depth = dict.fromkeys(self.tasks, 0)
        for worker in self.workers.values():
            for work in worker.waiting():
                depth[work.task] = depth.get(work.task, 0) + 1
        return depth

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
