"""Search indexes as Lance tables (``lancedb``, the ``lance`` extra): on disk or object storage, larger than RAM.

A Lance index is a Lance table (a folder or URI whose name ends in ``.lance``: a local path,
``file://``, ``s3://``, ``gs://``, ``az://``) with the columns

    id        string                      one row per id
    text      string
    vector    fixed_size_list<float32>[dim]
    ...       the passthrough columns of the corpus, each its own column

and, in the table's schema metadata under ``nlu_index``, a record like an index folder's manifest: the model
(name, spec, source, path, revision, weights sha256), dimension, normalisation, token limit, the
toolkit's version, with a checksum of its own. It is written in the same commit as the data
(schema metadata travels with every version), so a reader never sees rows without their model. A table of fewer than
`ANN_MIN_ROWS` rows is searched exactly (every vector); above it an IVF-PQ index is built, and its
candidates are re-scored on the stored float32 vectors (``refine_factor``).

Lance keeps versions: a writer commits a new version atomically and readers never take a lock, so
any number of server replicas can read one table while it grows. `finish_lance_index` is what a job
that wrote such a table itself (the Ray engine) calls to make it an index.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from nlu_toolkit._version import __version__
from nlu_toolkit.errors import IndexCorrupted, InputError, UsageError
from nlu_toolkit.extras import require
from nlu_toolkit.models.resolver import ModelInfo
from nlu_toolkit.search.manifest import LONG_MODES, manifest_checksum

META_KEY = "nlu_index"
LANCE_FORMAT = "nlu-lance-index"
LANCE_VERSION = 1
KIND = "lance"
ID, TEXT, VECTOR = "id", "text", "vector"
#: Below this many rows a table is searched exactly: an IVF-PQ index cannot be trained on a few rows
#: (PQ needs 256 codes per sub-vector) and a flat scan of a few thousand vectors is sub-millisecond anyway.
ANN_MIN_ROWS = 5000
#: Search settings for a table with an IVF-PQ index: partitions probed, and candidates re-scored on
#: the float32 vectors per hit wanted (see benchmarks/bench_lance.py for the recall they give).
NPROBES = 32
REFINE_FACTOR = 10
#: An opened index checks for a newer version of its table at most this often (lancedb's
#: ``read_consistency_interval``), so a server replica serves documents added after it started.
REFRESH_S = 5.0
REMOTE_SCHEMES = ("s3://", "s3a://", "gs://", "gcs://", "az://", "abfs://", "memory://")


def lancedb() -> Any:
    """The ``lancedb`` module, or `MissingExtra` with the install hint.

    Lance's own log (Rust, on stderr) is kept to errors unless ``LANCEDB_LOG`` / ``LANCE_LOG`` say otherwise:
    its warnings ("no existing dataset, it will be created") are not the user's business."""
    os.environ.setdefault("LANCEDB_LOG", "error")
    os.environ.setdefault("LANCE_LOG", "error")
    return require("lancedb", extra="lance")


def is_lance_uri(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names a Lance table: its last part ends in ``.lance``."""
    return str(path).rstrip("/").endswith(".lance")


def split_uri(uri: str | os.PathLike[str]) -> tuple[str, str]:
    """``(database, table name)`` as lancedb addresses the table at ``uri`` (``db/name.lance``)."""
    text = str(uri).rstrip("/")
    if not is_lance_uri(text):
        raise UsageError(
            f"a Lance index is a folder or URI ending in .lance, not {text!r}", "name it e.g. corpus.lance"
        )
    if text.startswith("file://"):
        text = text[len("file://") :]
    if text.startswith(REMOTE_SCHEMES):
        parent, _, name = text.rpartition("/")
        return parent, name[: -len(".lance")]
    path = Path(text).expanduser().absolute()
    return str(path.parent), path.name[: -len(".lance")]


def is_remote(uri: str | os.PathLike[str]) -> bool:
    return str(uri).startswith(REMOTE_SCHEMES)


def local_path(uri: str | os.PathLike[str]) -> Path | None:
    """The table's folder on this machine, or None for object storage."""
    if is_remote(uri):
        return None
    db, name = split_uri(uri)
    return Path(db) / f"{name}.lance"


def connect(
    uri: str | os.PathLike[str], storage_options: dict[str, str] | None = None, refresh_s: float | None = None
) -> tuple[Any, str]:
    """``(connection, table name)`` for the table at ``uri``; with ``refresh_s``, tables opened from it look for
    a newer version at most that often (None: they keep the version they opened)."""
    from datetime import timedelta

    db, name = split_uri(uri)
    interval = None if refresh_s is None else timedelta(seconds=refresh_s)
    return lancedb().connect(db, storage_options=storage_options or None, read_consistency_interval=interval), name


def open_table(
    uri: str | os.PathLike[str], storage_options: dict[str, str] | None = None, refresh_s: float | None = None
) -> Any:
    """The lancedb table at ``uri``: `InputError` when there is none, `IndexCorrupted` when it cannot be read."""
    where = local_path(uri)
    if where is not None and not where.is_dir():
        raise InputError(
            "no such Lance index", "build one with: nlu index build FILE --out DIR.lance --index-backend lance"
        )
    conn, name = connect(uri, storage_options, refresh_s)
    try:
        return conn.open_table(name)
    except Exception as e:  # lancedb raises ValueError, OSError, RuntimeError or its own errors
        if where is None and "not found" in str(e).lower():
            raise InputError(f"no Lance index at {uri}", "check the URI and --storage options") from e
        raise damaged(uri, e) from e


def damaged(uri: Any, error: BaseException | str) -> IndexCorrupted:
    """The error for a table that cannot be read (a missing or truncated file inside it)."""
    why = str(error).splitlines()[0][:300] if str(error) else type(error).__name__
    return IndexCorrupted(
        f"Lance index {uri} is damaged ({why})",
        f"rebuild it: nlu index build FILE --out {uri} --index-backend lance --overwrite",
    )


# -- the metadata record -------------------------------------------------------------------


def metadata_record(
    model_info: ModelInfo, *, dimension: int, normalized: bool, max_length: int | None, long: str
) -> dict[str, Any]:
    """The ``nlu_index`` record of a table (without its checksum)."""
    from nlu_toolkit.search.model_record import model_record

    return {
        "format": LANCE_FORMAT,
        "version": LANCE_VERSION,
        "model": model_record(model_info),
        "dimension": int(dimension),
        "normalized": bool(normalized),
        "precision": "float32",
        "backend": KIND,  # the index kind, under the key an index folder's manifest uses
        "max_length": max_length,
        "long": long,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "nlu_toolkit": __version__,
    }


def stamp(record: dict[str, Any]) -> str:
    """``record`` with its checksum, as the schema metadata holds it."""
    body = {k: v for k, v in record.items() if k != "record_sha256"}
    return json.dumps({**body, "record_sha256": manifest_checksum(body)}, sort_keys=True)


def write_metadata(table: Any, record: dict[str, Any]) -> None:
    """Store ``record`` (with its checksum) in ``table``'s schema metadata (a commit of its own)."""
    table.to_lance().update_schema_metadata({META_KEY: stamp(record)})
    table.checkout_latest()


def read_metadata(table: Any, uri: Any) -> dict[str, Any]:
    """The validated ``nlu_index`` record of ``table`` (`IndexCorrupted` when missing or damaged)."""
    try:
        raw = (table.schema.metadata or {}).get(META_KEY.encode())
    except Exception as e:
        raise damaged(uri, e) from e
    if raw is None:
        raise IndexCorrupted(
            f"the Lance table {uri} has no nlu index record (it was not written by nlu, or not finished)",
            f"build it with: nlu index build FILE --out {uri} --index-backend lance",
        )
    try:
        record = json.loads(raw)
    except json.JSONDecodeError as e:
        raise _bad(uri, f"not JSON ({e})") from e
    if not isinstance(record, dict) or record.get("format") != LANCE_FORMAT:
        raise _bad(uri, "not an nlu Lance index record")
    if not isinstance(record.get("version"), int) or record["version"] > LANCE_VERSION:
        raise IndexCorrupted(
            f"Lance index {uri} has record version {record.get('version')!r}, newer than this nlu_toolkit reads",
            "upgrade nlu_toolkit",
        )
    body = {k: v for k, v in record.items() if k != "record_sha256"}
    if record.get("record_sha256") != manifest_checksum(body):
        raise _bad(uri, "the record does not match its own checksum (it was edited or damaged)")
    model = record.get("model")
    checks = {
        "model": isinstance(model, dict) and isinstance(model.get("name"), str),
        "dimension": isinstance(record.get("dimension"), int) and record["dimension"] > 0,
        "long": record.get("long", "truncate") in LONG_MODES,
        "max_length": record.get("max_length") is None or isinstance(record["max_length"], int),
        "normalized": isinstance(record.get("normalized"), bool),
    }
    for key, ok in checks.items():
        if not ok:
            raise _bad(uri, f"{key!r} is {record.get(key)!r}, not a valid value")
    return record


def _bad(uri: Any, what: str) -> IndexCorrupted:
    return IndexCorrupted(
        f"Lance index {uri}: its nlu_index metadata is damaged: {what}",
        f"rebuild it: nlu index build FILE --out {uri} --index-backend lance --overwrite",
    )


def vector_dimension(table: Any, uri: Any) -> int:
    """The dimension of the table's ``vector`` column; `IndexCorrupted` unless the contract's columns are there."""
    import pyarrow as pa

    schema = table.schema
    names = set(schema.names)
    if missing := [c for c in (ID, TEXT, VECTOR) if c not in names]:
        raise IndexCorrupted(
            f"the Lance table {uri} has no {', '.join(missing)} column", "write id, text and vector columns"
        )
    vtype = schema.field(VECTOR).type
    if not pa.types.is_fixed_size_list(vtype) or not pa.types.is_float32(vtype.value_type):
        raise IndexCorrupted(
            f"the Lance table {uri}: 'vector' is {vtype}, not fixed_size_list<float32>[dim]",
            "write the vectors as fixed-size lists of float32",
        )
    return int(vtype.list_size)


# -- the ANN index ---------------------------------------------------------------------------


def ann_plan(rows: int, dim: int) -> dict[str, Any]:
    """The vector index for a table of ``rows`` vectors: none (exact) below `ANN_MIN_ROWS`, else IVF-PQ.

    Partitions ~ sqrt(rows) (lancedb's rule of thumb: a few thousand rows each), sub-vectors of 8
    dimensions (dim/8, finer than lancedb's default dim/16: more recall for the refine step to keep).
    """
    if rows < ANN_MIN_ROWS:
        return {"type": "exact"}
    partitions = max(1, min(int(rows**0.5), rows // 256))
    sub = next(s for s in (dim // 8, dim // 4, dim // 2, 1) if s >= 1 and dim % s == 0)
    return {
        "type": "IVF_PQ",
        "num_partitions": partitions,
        "num_sub_vectors": sub,
        "nprobes": NPROBES,
        "refine_factor": REFINE_FACTOR,
    }


def build_ann(table: Any, plan: dict[str, Any]) -> None:
    """Build (or replace) the vector index ``plan`` names; an exact plan drops nothing and builds nothing."""
    if plan["type"] == "exact":
        return
    from lancedb.index import IvfPq

    table.create_index(
        VECTOR,
        config=IvfPq(
            distance_type="cosine", num_partitions=plan["num_partitions"], num_sub_vectors=plan["num_sub_vectors"]
        ),
        replace=True,
    )


def has_ann(table: Any) -> bool:
    """Whether the table's ``vector`` column has a vector index."""
    return any(VECTOR in i.columns for i in table.list_indices())


def refresh_ann(table: Any, dim: int) -> None:
    """After rows were added or deleted: build the vector index once the table is big enough, or fold the
    new rows into the one it has (`optimize`: until then, lancedb scans unindexed rows exactly)."""
    if not has_ann(table):
        build_ann(table, ann_plan(table.count_rows(), dim))
        return
    from datetime import timedelta

    table.optimize(cleanup_older_than=timedelta(days=7))


# -- the contract with jobs that write tables themselves ------------------------------------------


def finish_lance_index(
    uri: str,
    *,
    model_info: ModelInfo,
    normalized: bool,
    storage_options: dict[str, str] | None = None,
    max_length: int | None = None,
    long: str = "truncate",
) -> None:
    """Make the Lance table at ``uri`` (columns ``id``, ``text``, ``vector`` and passthrough) an nlu index.

    Stores the model record (name, spec, revision, weights checksum), dimension, normalisation and
    the toolkit's version in the table's schema metadata (key ``nlu_index``), and builds the ANN index (IVF-PQ) when the table
    has `ANN_MIN_ROWS` rows or more; a smaller table stays exact. ``max_length`` and ``long``: how the
    texts were embedded (the query side uses the same).

    Raises:
        InputError: no table at ``uri``.
        IndexCorrupted: the table lacks the columns above, or cannot be read.
    """
    table = open_table(uri, storage_options)
    dim = vector_dimension(table, uri)
    record = metadata_record(model_info, dimension=dim, normalized=normalized, max_length=max_length, long=long)
    write_metadata(table, record)
    build_ann(table, ann_plan(table.count_rows(), dim))


# -- damage ------------------------------------------------------------------------------------


def verify_files(table: Any, uri: Any) -> None:
    """Check that every data file of the table's current version is there whole (local tables: object
    storage is left to the store's own checks); `IndexCorrupted` naming the first one that is not."""
    folder = local_path(uri)
    if folder is None:
        return
    try:
        dataset = table.to_lance()
        fragments = dataset.get_fragments()
        files = [(f, folder / "data" / f.path) for fragment in fragments for f in fragment.data_files()]
        indices = [folder / "_indices" / str(i["uuid"]) for i in dataset.list_indices()]
    except Exception as e:
        raise damaged(uri, e) from e
    for data, path in files:
        size = getattr(data, "file_size_bytes", None)
        if not path.is_file():
            raise damaged(uri, f"its data file {path.name} is missing")
        if size and path.stat().st_size != size:
            raise damaged(uri, f"its data file {path.name} has {path.stat().st_size} bytes, not {size}")
    for index in indices:
        if not index.is_dir() or not any(index.iterdir()):
            raise damaged(uri, f"its vector index {index.name} is missing")


def lance_info(uri: str | os.PathLike[str], storage_options: dict[str, str] | None = None) -> dict[str, Any]:
    """The table's model record with its count, vector index and version (what ``nlu index info`` shows);
    no model is loaded."""
    from nlu_toolkit.search.lance_lexical import lexical_record

    table = open_table(uri, storage_options)
    record = read_metadata(table, uri)
    verify_files(table, uri)
    try:
        lexical = lexical_record(table)  # the full-text index of a hybrid index; passages are in the record
        return {
            **{k: v for k, v in record.items() if k != "record_sha256"},
            "count": table.count_rows(),
            "ann": "IVF_PQ" if has_ann(table) else "exact",
            "table_version": table.version,
            "corpus_fingerprint": None,
            **({"lexical": lexical} if lexical else {}),
        }
    except Exception as e:
        raise damaged(uri, e) from e
