"""Records to Arrow: the rows a `LanceIndex` writes, window by window, in the table's schema."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from nlu_toolkit.errors import InputError
from nlu_toolkit.search.ids import id_key
from nlu_toolkit.search.lance_index import ID, TEXT, VECTOR
from nlu_toolkit.tasks.common import Inputs
from nlu_toolkit.tasks.embed import Embedder

TRUNCATED = "truncated"


def table_schema(rows: list[dict[str, Any]], dim: int) -> Any:
    """The table's schema from the first window's rows: id, text, vector, truncated, then the passthrough."""
    import pyarrow as pa

    passthrough = {k: None for row in rows for k in row if k not in (ID, TEXT, TRUNCATED)}
    inferred = pa.Table.from_pylist([{k: row.get(k) for k in passthrough} for row in rows]) if passthrough else None
    fields = [
        pa.field(ID, pa.string(), nullable=False),
        pa.field(TEXT, pa.string()),
        pa.field(VECTOR, pa.list_(pa.float32(), dim)),
        pa.field(TRUNCATED, pa.bool_()),
    ]
    for name in passthrough:
        kind = inferred.schema.field(name).type  # type: ignore[union-attr]
        fields.append(pa.field(name, pa.string() if pa.types.is_null(kind) else kind))
    return pa.schema(fields)


class Batches:
    """Windows of embedded records as Arrow record batches of the table's schema.

    Within one window a repeated id keeps its last record; ``repeated`` counts the records dropped so,
    and ``seen_before`` the ids of the last window that an earlier window of this call already wrote.
    An error raised while reading or embedding is kept in ``error`` (Lance re-raises it as its own).
    """

    def __init__(self, embedder: Embedder, inputs: Inputs, *, id_start: int, schema: Any = None) -> None:
        self.stream = embedder.embed(inputs, id_start=id_start)
        self.dim, self.schema = embedder.dimension, schema
        self.error: BaseException | None = None
        self.repeated = self.seen_before = 0
        self.seen: set[str] = set()
        self._peeked: list[Any] | None = None

    def first(self) -> list[dict[str, Any]]:
        """The rows of the first window (read ahead, for the schema)."""
        item = next(self.stream, None)
        self._peeked = [item] if item is not None else []
        return _rows(*item)[0] if item is not None else []

    def __iter__(self) -> Iterator[Any]:
        try:
            yield from self._batches()
        except BaseException as e:
            self.error = e
            raise

    def _batches(self) -> Iterator[Any]:
        import pyarrow as pa

        items = self._peeked if self._peeked is not None else []
        self._peeked = None
        for item in _chain(items, self.stream):
            rows, vectors = _rows(*item)
            self.repeated += len(item[0]) - len(rows)
            keys = [r[ID] for r in rows]
            self.seen_before = sum(k in self.seen for k in keys)
            self.seen.update(keys)
            names = set(self.schema.names)
            for row in rows:
                if TRUNCATED not in names:  # a table written by another job may have no such column
                    row.pop(TRUNCATED, None)
                if extra := [k for k in row if k not in names]:
                    raise InputError(
                        f"record {row[ID]!r} has the column {extra[0]!r}, which the index's table has not",
                        "give every record the same columns (a Lance table has a fixed set of columns)",
                    )
            plain = pa.schema([f for f in self.schema if f.name != VECTOR])
            try:
                table = pa.Table.from_pylist(rows, schema=plain)
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError) as e:
                raise InputError(
                    f"a passthrough column of the records near id {keys[0]!r} has values of another type than "
                    f"the index's table ({e})",
                    "give each column one type in every record",
                ) from e
            vector = pa.FixedSizeListArray.from_arrays(pa.array(vectors.astype(np.float32).ravel()), self.dim)
            arrays = [vector if f.name == VECTOR else table.column(f.name).combine_chunks() for f in self.schema]
            yield pa.RecordBatch.from_arrays(arrays, schema=self.schema)


def _rows(window: list[dict], vectors: np.ndarray, truncated: list[bool]) -> tuple[list[dict], np.ndarray]:
    """A window's records as table rows (the last of each repeated id) and their vectors."""
    last: dict[str, int] = {}
    for j, record in enumerate(window):
        last[id_key(record.get(ID))] = j
    keep = sorted(last.values())
    rows = []
    for j in keep:
        record = window[j]
        row = {k: v for k, v in record.items() if k not in (ID, TEXT, TRUNCATED)}
        row.update({ID: id_key(record.get(ID)), TEXT: record[TEXT], TRUNCATED: True if truncated[j] else None})
        rows.append(row)
    return rows, vectors[keep]


def _chain(first: list[Any], rest: Iterator[Any]) -> Iterator[Any]:
    yield from first
    yield from rest
