"""A task mapped over a ``ray.data.Dataset`` by a pool of actors, each loading the model once.

`map_dataset` is the library entry for Ray users: it takes a dataset with a text column and returns
one with the task's result columns added (the input's columns kept):

    embed      embedding (list<float32>), truncated
    classify   label, score, labels (list<struct<label, score>>), truncated
    ner        entities (list<struct<label, score, start, end, word>>), truncated

A result column named like an input column moves the input's to ``input_<name>``, as the
single-process records do (`records.merge_passthrough`). Each actor builds the task object
(`Embedder`, `Classifier`, `EntityRecognizer`) with the caller's `RunOptions`, so the backends
(``backend="onnx", quantize="int8"``) and the length-sorted batching are those of the single process.
"""

from __future__ import annotations

import json
import re
from typing import Any

from nlu_toolkit.engine.options import RunOptions
from nlu_toolkit.errors import InputError, NluError, UsageError, check_choice

TASKS = ("embed", "classify", "ner")
#: What each task adds to a row.
RESULT_COLUMNS = {
    "embed": ("embedding", "truncated"),
    "classify": ("label", "score", "labels", "truncated"),
    "ner": ("entities", "truncated"),
}
#: Rows per call of an actor by default (each call runs the task's own length-sorted batches).
DEFAULT_ROWS_PER_CALL = 1024


def build_task(task: str, model: str | None, run: RunOptions, options: dict[str, Any]) -> Any:
    """The task object that runs ``task`` (the single-process classes, with the same options)."""
    check_choice("task", task, TASKS)
    if task == "embed":
        from nlu_toolkit.tasks.embed import Embedder

        return Embedder(model, run=run, **options)
    if task == "classify":
        from nlu_toolkit.tasks.classify import Classifier

        return Classifier(model, run=run, **options)
    from nlu_toolkit.tasks.ner import EntityRecognizer

    return EntityRecognizer(model, run=run, **options)


def check_task_options(task: str, options: dict[str, Any]) -> None:
    """Refuse a task option the task's class does not take, before any worker starts."""
    check_choice("task", task, TASKS)
    allowed = {
        "embed": {"normalize", "long", "stride"},
        "classify": {"labels", "hypothesis_template", "top_k", "multi_label", "threshold", "long", "stride"},
        "ner": {"aggregation", "long", "stride"},
    }[task]
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise UsageError(f"{task} takes no option {unknown[0]!r}", f"its options are: {', '.join(sorted(allowed))}")


#: How a worker's `NluError` travels to the driver: Ray re-raises a worker's exception there as its own
#: type holding the worker's traceback as text (the exception's cause and attributes are not kept), so
#: the error goes as one line of JSON in that text, after this marker.
MARKER = "nlu-error:"
_CARRIED = re.compile(re.escape(MARKER) + r"(\{.*?\})(?=\s*$)", re.MULTILINE)


class CarriedError(Exception):
    """An `NluError` raised on a worker, as text that survives Ray's wrapping (see `MARKER`)."""

    @classmethod
    def of(cls, error: NluError) -> CarriedError:
        state = {k: v for k, v in vars(error).items() if isinstance(v, (str, int, float, bool, type(None)))}
        return cls(MARKER + json.dumps({"kind": type(error).__name__, "state": state}, ensure_ascii=True))


def restore(text: str) -> NluError | None:
    """The `NluError` whose `CarriedError` text is in ``text`` (the first one), or None."""
    import nlu_toolkit.errors as errors

    found = _CARRIED.search(text)
    if found is None:
        return None
    try:
        carried = json.loads(found.group(1))
    except ValueError:
        return None
    kind = getattr(errors, str(carried.get("kind")), NluError)
    if not (isinstance(kind, type) and issubclass(kind, NluError)):
        kind = NluError
    made = kind.__new__(kind)
    state = carried.get("state") or {}
    Exception.__init__(made, state.get("template", ""))
    made.__dict__.update(state)
    return made


def original_error(error: BaseException) -> NluError | None:
    """The `NluError` a worker raised, read from the chain of Ray's wrappers around it; None if none."""
    seen: set[int] = set()
    stack: list[Any] = [error]
    while stack:
        e = stack.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, NluError):
            return e
        made = restore(str(e))
        if made is not None:
            return made
        stack.extend([e.__cause__, e.__context__, getattr(e, "cause", None)])
    return None


class TaskActor:
    """The callable class of the actor pool: loads the model in ``__init__``, maps a pyarrow batch."""

    def __init__(
        self, task: str, model: str | None, run: RunOptions, options: dict[str, Any], text_column: str
    ) -> None:
        try:
            self.task = task
            self.text_column = text_column
            self.runner = build_task(task, model, run, options)
        except NluError as e:
            raise CarriedError.of(e) from None

    def __call__(self, batch: Any) -> Any:
        try:
            return self._map(batch)
        except NluError as e:
            raise CarriedError.of(e) from None

    def _map(self, batch: Any) -> Any:
        import pyarrow as pa

        if self.text_column not in batch.column_names:
            have = ", ".join(repr(c) for c in batch.column_names) or "none"
            raise InputError(
                f"no column {self.text_column!r} (columns: {have})", "name the right column with {=text_column}"
            )
        texts = batch.column(self.text_column).to_pylist()
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise InputError(
                    f"column {self.text_column!r} is empty or not text in row {i} of a batch",
                    "fill it in or drop the row",
                )
        columns = self._results(texts)
        for name in columns:  # a clashing input column is kept as input_<name>, as in the records
            if name in batch.column_names:
                new = name
                while new in batch.column_names or new in columns:
                    new = "input_" + new
                batch = batch.rename_columns([new if c == name else c for c in batch.column_names])
        for name, array in columns.items():
            batch = batch.append_column(name, array)
        return batch if isinstance(batch, pa.Table) else pa.table(batch)

    def _results(self, texts: list[str]) -> dict[str, Any]:
        import numpy as np
        import pyarrow as pa

        if self.task == "embed":
            vectors, truncated = self.runner.encode(texts)
            dim = vectors.shape[1] if vectors.ndim == 2 else 0
            flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1), type=pa.float32())
            offsets = pa.array(
                np.arange(0, (len(texts) + 1) * dim, dim, dtype=np.int32) if dim else [0] * (len(texts) + 1)
            )
            return {
                "embedding": pa.ListArray.from_arrays(offsets, flat),
                "truncated": pa.array(truncated, type=pa.bool_()),
            }
        records = [{"id": i, "text": t} for i, t in enumerate(texts)]
        out = [r.to_dict() for r in self.runner.predict(records)]
        if self.task == "classify":
            label_type = pa.list_(pa.struct([("label", pa.string()), ("score", pa.float64())]))
            return {
                "label": pa.array([r["label"] for r in out], type=pa.string()),
                "score": pa.array([r["score"] for r in out], type=pa.float64()),
                "labels": pa.array([r["labels"] for r in out], type=label_type),
                "truncated": pa.array([r["truncated"] for r in out], type=pa.bool_()),
            }
        entity = pa.struct(
            [("label", pa.string()), ("score", pa.float64()), ("start", pa.int64()), ("end", pa.int64()),
             ("word", pa.string())]
        )  # fmt: skip
        return {
            "entities": pa.array([r["entities"] for r in out], type=pa.list_(entity)),
            "truncated": pa.array([r["truncated"] for r in out], type=pa.bool_()),
        }


def map_dataset(
    ds: Any,
    task: str,
    model: str | None = None,
    *,
    text_column: str = "text",
    workers: int = 1,
    gpus_per_worker: float = 0,
    cpus_per_worker: float = 1,
    batch_size: int | None = None,
    rows_per_call: int | None = DEFAULT_ROWS_PER_CALL,
    run: RunOptions | None = None,
    **task_options: Any,
) -> Any:
    """``ds`` (a ``ray.data.Dataset`` with a ``text_column``) with ``task``'s result columns added.

    Args:
        task: ``embed``, ``classify`` or ``ner``.
        model: as the task classes take it (default: the task's default model).
        workers: actors in the pool; each loads the model once.
        gpus_per_worker: GPUs reserved per actor (the model then runs on ``cuda``).
        cpus_per_worker: CPUs reserved per actor (torch threads follow, unless ``run.threads`` says).
        batch_size: inputs per forward pass (`RunOptions.batch_size`); overrides ``run``'s.
        rows_per_call: rows handed to an actor per call (it sorts them by length into batches); None:
            a whole block per call (`run_job` hands blocks that are the single process's windows).
        run: `RunOptions` (backend, quantize, max_length, ...).
        task_options: the task class's options (``normalize``, ``labels``, ``aggregation``, ``long``, ...).

    Returns a lazy ``ray.data.Dataset``; nothing runs until it is consumed or written. A worker that
    dies (a lost node, an out-of-memory kill) is restarted by Ray and its batches retried (the actor
    pool's defaults); an error of the data itself (a bad record) stops the run.
    """
    import dataclasses

    from nlu_toolkit.batch.cluster import ray_module

    ray_module()
    import ray.data

    check_task_options(task, task_options)
    if not isinstance(workers, int) or workers < 1:
        raise UsageError(f"{{=workers}} must be a positive integer, got {workers!r}", "e.g. 2")
    if gpus_per_worker < 0:
        raise UsageError(f"{{=gpus_per_worker}} must be 0 or more, got {gpus_per_worker!r}", "e.g. 1")
    run = run or RunOptions()
    if batch_size is not None:
        run = dataclasses.replace(run, batch_size=batch_size)
    if gpus_per_worker and run.device in (None, "auto", "cpu"):
        run = dataclasses.replace(run, device="cuda")
    if run.threads is None and not gpus_per_worker:
        run = dataclasses.replace(run, threads=max(1, int(cpus_per_worker)))
    return ds.map_batches(
        TaskActor,
        fn_constructor_kwargs={
            "task": task, "model": model, "run": run, "options": dict(task_options), "text_column": text_column,
        },
        compute=ray.data.ActorPoolStrategy(size=workers),
        batch_size=rows_per_call,
        batch_format="pyarrow",
        num_cpus=cpus_per_worker,
        num_gpus=gpus_per_worker or None,
    )  # fmt: skip
