"""Document ids in a `SemanticIndex`: one entry per id, what `add` and `delete` report.

Ids are matched by their text: ``3`` and ``"3"`` name the same document (a CSV column, a JSONL
number and a command-line argument all give the same id), while each document keeps the id as it
was given. Strings match as they are; any other id by its compact JSON (``3``, ``3.5``, ``true``).

An index written before ids were unique may hold an id on several rows; the first is its row and
the others are `IdMap.extra`, removed when that id is next added or deleted.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nlu_toolkit.errors import InputError

_NUMBER = re.compile(r"-?[0-9]+")


def id_key(value: Any) -> str:
    """The text an id is matched by: a string as it is, anything else as compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def ids_to_delete(ids: Iterable[Any] | str | int) -> dict[str, Any]:
    """The ids of a delete call by their key (`id_key`), each with the value first given for it, in order.

    An id given twice counts once (``3`` and ``"3"`` are one id). Raises `InputError` when none is given.
    """
    given = [ids] if isinstance(ids, (str, int)) else list(ids)
    if not given:
        raise InputError("no ids given", "give the ids of the documents to delete")
    unique: dict[str, Any] = {}
    for value in given:
        unique.setdefault(id_key(value), value)
    return unique


@dataclass(frozen=True)
class AddResult:
    """What `SemanticIndex.add` did.

    ``added``: ids new to the index; ``replaced``: ids already in it, whose documents were replaced;
    ``repeated``: input records whose id came earlier in the same call (the last of each is kept);
    ``count``: documents in the index afterwards.
    """

    added: int
    replaced: int
    repeated: int
    count: int

    def message(self) -> str:
        """``added 10, replaced 3`` (and the repeated ids, when there were some)."""
        text = f"added {self.added}, replaced {self.replaced}"
        if self.repeated:
            text += f" ({self.repeated} repeated ids: the last of each kept)"
        return text


@dataclass(frozen=True)
class DeleteResult:
    """What `SemanticIndex.delete` did: ``deleted`` ids, the ``not_found`` ones (as given), ``count`` left."""

    deleted: int
    not_found: list[Any] = field(default_factory=list)
    count: int = 0

    def message(self) -> str:
        """``deleted 2`` or ``deleted 2 (1 not found: x)``."""
        text = f"deleted {self.deleted}"
        if self.not_found:
            shown = ", ".join(id_key(i) for i in self.not_found[:3]) + (", ..." if len(self.not_found) > 3 else "")
            text += f" ({len(self.not_found)} not found: {shown})"
        return text


class IdMap:
    """Id text -> row, built once from an index's documents and kept up to date by `add`/`delete`."""

    def __init__(self) -> None:
        self.rows: dict[str, int] = {}
        self.extra: dict[str, list[int]] = {}  # further rows of an id (indexes saved before ids were unique)
        self.top = -1  # the largest id that reads as an integer

    @classmethod
    def of(cls, documents: Iterable[dict[str, Any]]) -> IdMap:
        ids = cls()
        for row, doc in enumerate(documents):
            key = id_key(doc.get("id"))
            if key in ids.rows:
                ids.extra.setdefault(key, []).append(row)
            else:
                ids.put(key, row)
        return ids

    def put(self, key: str, row: int) -> None:
        self.rows[key] = row
        if _NUMBER.fullmatch(key):
            self.top = max(self.top, int(key))

    def next_id(self, count: int) -> int:
        """The first id for texts without one: past every integer id, and never below ``count``."""
        return max(count, self.top + 1)

    def remap(self, keep: np.ndarray) -> None:
        """Follow a compaction that kept the rows where ``keep`` is true (dropped ids are already gone)."""
        new = np.cumsum(keep) - 1
        self.rows = {key: int(new[row]) for key, row in self.rows.items()}
        extra = {key: [int(new[row]) for row in rows if keep[row]] for key, rows in self.extra.items()}
        self.extra = {key: rows for key, rows in extra.items() if rows}


def rewrite_docs(
    path: Path, offsets: np.ndarray, keep: np.ndarray | None, lines: dict[int, bytes]
) -> tuple[np.ndarray, Any]:
    """Rewrite the documents file ``path`` (a line per row at ``offsets``) without the rows ``keep`` drops
    and with ``lines`` in place of those rows' lines; returns the new offsets and the corpus fingerprint."""
    tmp = path.with_suffix(".rewrite")
    fingerprint = hashlib.sha256()
    ends = [0]
    with open(path, "rb") as src, open(tmp, "wb") as dst:
        for row, line in _lines(src, offsets):
            if keep is not None and not keep[row]:
                continue
            line = lines.get(row, line)
            dst.write(line)
            fingerprint.update(line)
            ends.append(ends[-1] + len(line))
    tmp.replace(path)
    return np.asarray(ends, dtype=np.int64), fingerprint


def _lines(f: Any, offsets: np.ndarray) -> Iterator[tuple[int, bytes]]:
    for row in range(len(offsets) - 1):
        yield row, f.read(int(offsets[row + 1] - offsets[row]))
