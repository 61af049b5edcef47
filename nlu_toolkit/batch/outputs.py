"""Where a job writes: a Parquet folder (one file per input plus a manifest) or a Lance table, resumable.

The manifest (``_nlu_job.json``, written atomically after each finished input) names the job (task,
model, options: a resumed job must be the same job) and, per finished input, its output file, row
count, and the input's size and mtime. A resumed job keeps the inputs whose entry matches the input
and whose output is whole (its row count), and redoes the others.

A Lance table holds every input's rows in one table, appended one input at a time; each entry records
the table version its append made. A resumed job rolls the table back to the last version whose inputs
all still match (rows appended after the manifest's last version, or by an input that changed or is
gone since, are dropped, with every input appended after them) and redoes the rest, so the table ends
as an uninterrupted job's: no input's rows twice, none of an input that is no longer there.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field
from typing import Any

from nlu_toolkit.batch.sources import InputFile, filesystem
from nlu_toolkit.errors import InputError, OutputError, UsageError

MANIFEST = "_nlu_job.json"
FORMAT = "nlu-batch-job"
VERSION = 1


@dataclass
class Target:
    """A job's output: a Parquet folder, or (``lance``) a Lance table for ``embed``."""

    location: str
    job: dict[str, Any]
    lance: bool = False
    storage_options: dict[str, str] | None = None
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    lance_version: int | None = None
    schema: Any = None
    created: bool = False  # the folder was made by this run (removed again if the run fails before a file)

    # -- opening --------------------------------------------------------------------------------

    @classmethod
    def open(
        cls, location: str, job: dict[str, Any], *, resume: bool, storage_options: dict[str, str] | None = None
    ) -> Target:
        """Check ``location`` before any work: new or empty, or (with ``resume``) this job's own output."""
        import pyarrow.fs as pafs

        from nlu_toolkit.search.lance_index import is_lance_uri

        target = cls(location, job, lance=is_lance_uri(location), storage_options=storage_options)
        if target.lance and job["task"] != "embed":
            raise UsageError(
                f"a .lance {{=output}} is a search index: only embed writes one, not {job['task']}",
                "write a Parquet folder instead (an {=output} not ending in .lance)",
            )
        fs, path = target.fs()
        info = fs.get_file_info(path)
        if info.type == pafs.FileType.File:
            raise OutputError("{=output} is a file; a job writes a folder", "give a new folder", path=location)
        if info.type == pafs.FileType.NotFound:
            return target
        entries = fs.get_file_info(pafs.FileSelector(path, recursive=False))
        if not entries:
            return target
        if not resume:
            raise OutputError(
                "{=output} already holds files",
                "pass {=resume} to finish an interrupted job there, or give a new folder",
                path=location,
            )
        manifest = target.read_manifest()
        if manifest is None:
            raise OutputError(
                "{=output} holds files but no job manifest: it is not the output of a job",
                "give a new folder",
                path=location,
            )
        if manifest.get("job") != job:
            changed = sorted(k for k in set(job) | set(manifest.get("job", {})) if job.get(k) != manifest["job"].get(k))
            raise UsageError(
                f"{{=output}} was written by another job (it differs in {', '.join(changed)})",
                "resume with the same task, model and options, or give a new folder",
            )
        target.files = dict(manifest.get("files", {}))
        target.lance_version = manifest.get("lance_version")
        return target

    def fs(self) -> tuple[Any, str]:
        return filesystem(self.location)

    def read_manifest(self) -> dict[str, Any] | None:
        fs, path = self.fs()
        try:
            with fs.open_input_stream(f"{path}/{MANIFEST}") as f:
                data = json.loads(f.read().decode("utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            raise OutputError(f"cannot read its job manifest ({e})", "give a new folder", path=self.location) from e
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            return None
        return data

    # -- what is done ---------------------------------------------------------------------------

    def plan(self, sources: list[InputFile]) -> list[InputFile]:
        """The inputs to (re)compute, the output made ready for them (`prepare`); the others are kept."""
        kept = [s for s in sources if self.done(s)]
        if self.lance:
            kept = self._lance_prefix(kept)
        todo = [s for s in sources if s not in kept]
        self.prepare(todo)
        return todo

    def _lance_prefix(self, kept: list[InputFile]) -> list[InputFile]:
        """The ``kept`` inputs whose rows precede, in the table, those of every recorded input that is not
        kept (changed or gone); the table goes back to the version after the last of them."""
        keep = {s.uri for s in kept}
        stale = [e for uri, e in self.files.items() if uri not in keep]
        if not stale:
            return kept
        if any(not isinstance(e.get("lance_version"), int) for e in self.files.values()):
            cut = None  # an entry without its version: which rows are whose is unknown, the table is written anew
        else:
            first = min(e["lance_version"] for e in stale)
            cut = max((e["lance_version"] for e in self.files.values() if e["lance_version"] < first), default=None)
        self.files = {
            uri: e for uri, e in self.files.items() if cut is not None and uri in keep and e["lance_version"] <= cut
        }
        self.lance_version = cut
        return [s for s in kept if s.uri in self.files]

    def done(self, source: InputFile) -> bool:
        """Whether ``source``'s output is there whole, from this very input (size and mtime)."""
        entry = self.files.get(source.uri)
        if entry is None or entry.get("size") != source.size or entry.get("mtime") != source.mtime:
            return False
        if self.lance:
            return True  # rows past the manifest's version are rolled back by `prepare`
        import pyarrow.parquet as pq

        fs, path = self.fs()
        try:
            rows = pq.ParquetFile(fs.open_input_file(f"{path}/{entry['output']}")).metadata.num_rows
        except (OSError, ValueError):
            return False
        return rows == entry.get("rows")

    def prepare(self, redo: list[InputFile]) -> None:
        """Before writing: forget the entries of inputs to redo; a Lance table goes back to its last
        recorded version (rows an interrupted run appended after it are dropped)."""
        for source in redo:
            self.files.pop(source.uri, None)
        if not self.lance:
            import pyarrow.fs as pafs

            fs, path = self.fs()
            self.created = fs.get_file_info(path).type == pafs.FileType.NotFound
            fs.create_dir(path, recursive=True)
            return
        table = self._table()
        if table is None:
            return
        dataset = table.to_lance()
        if self.lance_version is None or not self.files:
            self.lance_version = None  # nothing recorded: the table is written anew
        elif dataset.version != self.lance_version:
            try:
                dataset.checkout_version(self.lance_version).restore()
            except Exception as e:  # lance: the version was cleaned up (or the table is damaged)
                raise OutputError(
                    f"cannot go back to version {self.lance_version} of its table to resume ({e})",
                    "give a new folder",
                    path=self.location,
                ) from e
        self.schema = None if self.lance_version is None else dataset.schema

    # -- writing ----------------------------------------------------------------------------------

    def write(self, source: InputFile, rows: list[dict[str, Any]], vectors: Any = None) -> None:
        """Write ``source``'s output rows (Parquet: the records; Lance: records and ``vectors``), then
        record it in the manifest."""
        if self.lance:
            self._append_lance(rows, vectors)
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            fs, path = self.fs()
            temp = f"{path}/.{source.output}.tmp-{os.getpid()}"
            try:
                with fs.open_output_stream(temp) as f:
                    pq.write_table(pa.Table.from_pylist(rows), f)
                fs.move(temp, f"{path}/{source.output}")
            except BaseException:
                _remove(fs, temp)
                raise
        self.files[source.uri] = {"output": source.output, "rows": len(rows), **source.signature()}
        if self.lance:
            self.files[source.uri]["lance_version"] = self.lance_version  # the version its rows end at
        self.write_manifest()

    def discard_if_empty(self) -> None:
        """After a failed run: remove the output folder this run made if it wrote nothing into it."""
        import pyarrow.fs as pafs

        if not self.created or self.files:
            return
        fs, path = self.fs()
        with contextlib.suppress(OSError):
            if not fs.get_file_info(pafs.FileSelector(path, recursive=False)):
                fs.delete_dir(path)

    def write_manifest(self) -> None:
        fs, path = self.fs()
        body = {"format": FORMAT, "version": VERSION, "job": self.job, "files": self.files}
        if self.lance:
            body["lance_version"] = self.lance_version
        temp = f"{path}/.{MANIFEST}.tmp-{os.getpid()}"
        try:
            with fs.open_output_stream(temp) as f:
                f.write(json.dumps(body, indent=1, sort_keys=True).encode("utf-8"))
            fs.move(temp, f"{path}/{MANIFEST}")
        except BaseException:
            _remove(fs, temp)
            raise

    # -- Lance ------------------------------------------------------------------------------------

    def _table(self) -> Any:
        from nlu_toolkit.search.lance_index import connect

        conn, name = connect(self.location, self.storage_options)
        try:
            return conn.open_table(name)
        except Exception:  # lancedb: no such table (ValueError, FileNotFoundError or its own)
            return None

    def _append_lance(self, rows: list[dict[str, Any]], vectors: Any) -> None:
        import numpy as np
        import pyarrow as pa

        from nlu_toolkit.search.lance_index import VECTOR, connect
        from nlu_toolkit.search.lance_rows import table_schema

        dim = int(vectors.shape[1])
        if self.schema is None:
            self.schema = table_schema(rows, dim)
        plain = pa.schema([f for f in self.schema if f.name != VECTOR])
        try:
            table = pa.Table.from_pylist(rows, schema=plain)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError) as e:
            raise InputError(
                f"a passthrough column has values of another type than in the first input ({e})",
                "give each column one type in every input",
            ) from e
        vector = pa.FixedSizeListArray.from_arrays(pa.array(np.asarray(vectors, dtype=np.float32).ravel()), dim)
        arrays = [vector if f.name == VECTOR else table.column(f.name).combine_chunks() for f in self.schema]
        data = pa.Table.from_arrays(arrays, schema=self.schema)
        conn, name = connect(self.location, self.storage_options)
        if self.lance_version is None:
            made = conn.create_table(name, data, mode="overwrite")
        else:
            made = conn.open_table(name)
            made.add(data)
        self.lance_version = int(made.to_lance().version)

    def check_unique_ids(self) -> None:
        """A Lance index holds one row per id: refuse ids that repeat across the inputs."""
        import pyarrow.compute as pc

        from nlu_toolkit.search.lance_index import ID

        table = self._table()
        ids = table.to_lance().to_table(columns=[ID]).column(ID)
        if pc.count_distinct(ids).as_py() != len(ids):
            raise InputError(
                "ids repeat across the inputs, and a Lance index holds one row per id",
                "give every record a unique id in an id column ({=id_column}), or embed to a Parquet folder",
            )


def _remove(fs: Any, path: str) -> None:
    with contextlib.suppress(OSError):
        fs.delete_file(path)
