"""`run_job`: a file-to-file batch job (embed, classify, ner) on Ray Data.

Workers read the inputs (`sources.read_rows`: the single-process readers and their checks), an actor
pool runs the task (`inference.map_dataset`), and the driver writes each input's output as soon as all
its rows are back (`outputs.Target`: a Parquet file per input, or a Lance table), then records it in
the job's manifest, so an interrupted job resumes where it stopped (``resume=True``).

Each output record is the single-process CLI's record of that input (``nlu embed --input FILE -o
OUT.parquet``, ``nlu classify --input FILE``): same ids, passthrough columns, field names and values.
"""

from __future__ import annotations

import dataclasses
import pickle
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from nlu_toolkit.batch.inference import check_task_options, map_dataset, original_error
from nlu_toolkit.batch.outputs import Target
from nlu_toolkit.batch.sources import FILE, RECORD, ROW, TOTAL, InputFile, check_apart, find_inputs, read_rows
from nlu_toolkit.engine.options import RunOptions
from nlu_toolkit.errors import NluError
from nlu_toolkit.io.readers import DEFAULT_MAX_CHARS
from nlu_toolkit.records import merge_passthrough, with_fields

#: CPUs a reading task reserves: none, so reading never waits for CPUs the actors hold (a deadlock when they hold all).
READ_CPUS = 0


@dataclass
class FileResult:
    """One input: its output, rows, and whether this run computed it (False: kept from an earlier run)."""

    input: str
    output: str
    rows: int
    computed: bool

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class JobResult:
    """What a job did: the output, per input file what was written, rows in all, seconds."""

    task: str
    output: str
    files: list[FileResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)

    @property
    def computed(self) -> list[str]:
        """The inputs this run computed (on resume: the ones missing or incomplete before)."""
        return [f.input for f in self.files if f.computed]

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "output": self.output,
            "rows": self.rows,
            "seconds": self.seconds,
            "files": [f.to_dict() for f in self.files],
        }


def run_job(
    task: str,
    inputs: str | Sequence[str],
    output: str,
    *,
    model: str | None = None,
    text_column: str = "text",
    id_column: str | None = None,
    encoding: str = "utf-8",
    max_chars: int | None = DEFAULT_MAX_CHARS,
    address: str | None = None,
    workers: int = 1,
    gpus_per_worker: float = 0,
    cpus_per_worker: float = 1,
    batch_size: int | None = None,
    run: RunOptions | None = None,
    resume: bool = False,
    storage_options: dict[str, str] | None = None,
    progress: Callable[[int, int | None], None] | None = None,
    quiet: bool = True,
    progress_bars: bool = True,
    **task_options: Any,
) -> JobResult:
    """Run ``task`` over Parquet/JSONL ``inputs`` into ``output`` on Ray (see the module docs).

    Args:
        inputs: a file, folder, glob or URI (``s3://``, ``gs://``, ``file://``), or a list of them.
        output: a Parquet folder (one ``<input>.parquet`` per input and ``_nlu_job.json``), or for
            ``embed`` a Lance table (a name ending in ``.lance``) that is a search index when done
            (vectors normalised, as ``nlu index build`` makes them; ids must be unique across inputs).
        text_column, id_column, encoding, max_chars: how records are read (as `iter_records`).
        address: ``None`` starts a local Ray for the job; ``auto`` or ``ray://HOST:PORT`` joins one.
        workers, gpus_per_worker, cpus_per_worker, batch_size, run: the actor pool (`map_dataset`).
        resume: finish an interrupted job in ``output``: inputs whose output is there whole are kept.
        progress: called with ``(inputs done, inputs)`` as outputs are written.
        quiet: keep Ray's logs off stderr. progress_bars: Ray Data's progress bars (stderr).
        task_options: the task's options (``normalize``, ``labels``, ``aggregation``, ``long``, ...).

    Raises:
        OutputError: ``output`` holds files (without ``resume``) or is not a job's output.
        UsageError: bad options, or ``resume`` on another job's output.
        InputError: a missing or unreadable input, a bad record (named with its file and row).
        MissingExtra: Ray (or, for ``.lance``, lancedb) is not installed.
    """
    from nlu_toolkit.batch.cluster import check_address, ray_module

    check_task_options(task, task_options)
    check_address(address)
    ray_module()
    run = run or RunOptions()
    if batch_size is not None:
        run = dataclasses.replace(run, batch_size=batch_size)
    sources = find_inputs(inputs)
    check_apart(inputs, str(output))
    reading = {"fields": {"text": text_column}, "id_column": id_column, "encoding": encoding, "max_chars": max_chars}
    lance = str(output).rstrip("/").endswith(".lance")
    if lance:
        task_options = {**task_options, "normalize": True}
    job = {
        "task": task,
        "model": model,
        "options": {k: task_options[k] for k in sorted(task_options)},
        "reading": {"text_column": text_column, "id_column": id_column, "max_chars": max_chars},
        "run": {"backend": run.backend, "quantize": run.quantize, "max_length": run.max_length},
    }
    target = Target.open(str(output), job, resume=resume, storage_options=storage_options)
    started = time.perf_counter()
    todo = target.plan(sources)
    kept = [s for s in sources if s not in todo]
    result = JobResult(task, str(output))
    if progress is not None:
        progress(len(kept), len(sources))
    if todo:
        pool = {"workers": workers, "gpus_per_worker": gpus_per_worker, "cpus_per_worker": cpus_per_worker}
        try:
            _compute(task, model, todo, target, reading, run, pool, task_options, address, quiet, progress_bars,
                     lambda n: progress(len(kept) + n, len(sources)) if progress else None)  # fmt: skip
        except BaseException:
            target.discard_if_empty()
            raise
    if lance:
        _finish_lance(target, model, run, task_options)
    result.files = [
        FileResult(s.uri, target.files[s.uri]["output"], int(target.files[s.uri]["rows"]), s in todo) for s in sources
    ]
    result.seconds = time.perf_counter() - started
    return result


def _compute(
    task: str,
    model: str | None,
    todo: list[InputFile],
    target: Target,
    reading: dict[str, Any],
    run: RunOptions,
    pool: dict[str, Any],
    task_options: dict[str, Any],
    address: str | None,
    quiet: bool,
    progress_bars: bool,
    done: Callable[[int], None],
) -> None:
    """Read, run and write the inputs ``todo`` on Ray."""
    from nlu_toolkit.batch.cluster import ray_session

    with ray_session(address, workers=pool["workers"], quiet=quiet, progress_bars=progress_bars) as ray:
        import ray.data

        items = [{"index": i, "uri": s.uri, "path": s.path, "fmt": s.fmt} for i, s in enumerate(todo)]
        ds = ray.data.from_items(items, override_num_blocks=len(items))
        ds = ds.map_batches(
            _read_batch, fn_kwargs={"reading": reading}, batch_size=1, batch_format="pyarrow", num_cpus=READ_CPUS
        )
        # A block is a reader's chunk: the first CHUNK records of a file, the next, ...: the windows the
        # single process sorts by length, so the forward passes see the same batches.
        mapped = map_dataset(ds, task, model, run=run, rows_per_call=None, **pool, **task_options)
        gathered: dict[int, list[Any]] = {}
        finished = 0
        try:
            for batch in mapped.iter_batches(batch_size=None, batch_format="pyarrow"):
                for index, part in _split(batch):
                    parts = gathered.setdefault(index, [])
                    parts.append(part)
                    if _complete(parts):
                        _write(task, todo[index], target, gathered.pop(index))
                        finished += 1
                        done(finished)
        except NluError:
            raise
        except Exception as e:
            error = original_error(e)
            if error is None:
                raise
            raise error from None


def _read_batch(batch: Any, reading: dict[str, Any]) -> Any:
    """Ray's reading task: a batch of input items to tables of rows (`sources.read_rows`)."""
    from nlu_toolkit.batch.inference import CarriedError

    try:
        for item in batch.to_pylist():
            yield from read_rows(item, reading)
    except NluError as e:
        raise CarriedError.of(e) from None


def _split(batch: Any) -> list[tuple[int, Any]]:
    """A batch of result rows split by input file."""
    import numpy as np
    import pyarrow.compute as pc

    files = batch.column(FILE).to_numpy()
    return [(int(f), batch.filter(pc.equal(batch.column(FILE), int(f)))) for f in np.unique(files)]


def _complete(parts: list[Any]) -> bool:
    """Whether every row of a file is back: the file's row count (on its last block) is reached."""
    import pyarrow.compute as pc

    total = max(pc.max(p.column(TOTAL)).as_py() for p in parts)
    return total >= 0 and sum(p.num_rows for p in parts) == total


def _write(task: str, source: InputFile, target: Target, parts: list[Any]) -> None:
    """The single-process records of one input, from its result rows in input order, to ``target``."""
    import numpy as np
    import pyarrow as pa

    table = pa.concat_tables(parts).sort_by(ROW)
    records = [pickle.loads(b) for b in table.column(RECORD).to_pylist()]
    truncated = table.column("truncated").to_pylist()
    if task == "embed":
        vectors = np.asarray(table.column("embedding").to_pylist(), dtype=np.float32)
        if target.lance:
            from nlu_toolkit.search.ids import id_key

            rows = [
                {**{k: v for k, v in r.items() if k not in ("id", "text", "truncated")},
                 "id": id_key(r["id"]), "text": r["text"], "truncated": True if t else None}
                for r, t in zip(records, truncated, strict=True)
            ]  # fmt: skip
            target.write(source, rows, vectors)
            return
        kept = [
            {"id": r["id"], "truncated": t, **{k: v for k, v in r.items() if k not in ("id", "text")}}
            for r, t in zip(records, truncated, strict=True)
        ]
        target.write(source, [with_fields(r, embedding=v) for r, v in zip(kept, vectors.tolist(), strict=True)])
        return
    if task == "classify":
        columns = {name: table.column(name).to_pylist() for name in ("label", "score", "labels")}
        results = [{"label": a, "score": b, "labels": c} for a, b, c in zip(*columns.values(), strict=True)]
    else:
        results = [{"entities": e} for e in table.column("entities").to_pylist()]
    rows = [
        merge_passthrough(
            {"id": r["id"], "text": r["text"], **res, "truncated": t},
            {k: v for k, v in r.items() if k not in ("id", "text")},
        )
        for r, res, t in zip(records, results, truncated, strict=True)
    ]
    target.write(source, rows)


def _finish_lance(target: Target, model: str | None, run: RunOptions, task_options: dict[str, Any]) -> None:
    """Make the written table a search index: unique ids, the model record, the ANN index."""
    from nlu_toolkit.models.resolver import locate
    from nlu_toolkit.search.lance_index import finish_lance_index

    target.check_unique_ids()
    finish_lance_index(
        target.location,
        model_info=locate(model, "sentence-embedding"),
        normalized=True,
        storage_options=target.storage_options,
        max_length=run.max_length,
        long=task_options.get("long", "truncate"),
    )
