"""Adding and deleting documents of a passage index: a parent document's passages are added, replaced
and deleted together.

Both index kinds call these: `SemanticIndex` through `PassageEdits` (a mixin before `IndexEdits`), and
`LanceIndex` from its own ``add``/``delete``. An index without passage settings (``passages`` None) is
edited row by row as before.

- ``add``: each input record (a parent, with an ``id`` or given the next free one) becomes its passage
  rows, upserted by passage id; passages left over from the parent's previous version (it had more) are
  deleted. The `AddResult` counts parents: ``added`` new ones, ``replaced`` ones already indexed,
  ``repeated`` parents given twice in the call (the last kept); ``count`` is the rows (passages).
- ``delete``: a parent id deletes all its passages; a passage id (``"doc#3"``) that one passage.
- ``next_id``: past every integer parent id, and never below the number of parents.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from nlu_toolkit.io.readers import CheckedRecord
from nlu_toolkit.search.ids import AddResult, DeleteResult, IdMap, id_key, ids_to_delete
from nlu_toolkit.search.passages import parent_of, passage_records
from nlu_toolkit.tasks.common import Inputs, as_records


def parent_rows(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """Parent id text -> the ids of its rows, from ``(row id text, parent id text)`` pairs."""
    rows: dict[str, list[str]] = {}
    for row, parent in pairs:
        rows.setdefault(parent, []).append(row)
    return rows


def next_parent_id(parents: dict[str, list[str]]) -> int:
    """The id the next text without one gets: past every integer parent id, never below the parent count."""
    ids = IdMap()
    for key in parents:
        ids.put(key, 0)
    return ids.next_id(len(parents))


def add_passages(
    index: Any,
    inputs: Inputs,
    add_rows: Callable[[Iterable[dict[str, Any]]], Any],
    delete_rows: Callable[[list[str]], Any],
    *,
    parent_key: bool = False,
) -> AddResult:
    """Split ``inputs`` into passages, upsert them with ``add_rows`` and delete the stale ones with
    ``delete_rows``. ``index`` has ``passages``, ``embedder`` and ``id_parent_pairs()``."""
    before = parent_rows(index.id_parent_pairs())
    log = PassageLog()
    records = as_records(inputs, id_start=next_parent_id(before))
    rows = passage_records(records, index.embedder.loaded.tokenizer, index.passages, parent_key=parent_key, seen=log)
    add_rows(CheckedRecord.of(row, ["text"]) for row in rows)  # a passage is part of a checked text
    if stale := log.stale(before):
        delete_rows(stale)
    made = log.made
    added = sum(key not in before for key in made)
    return AddResult(
        added=added,
        replaced=len(made) - added,
        repeated=sum(len(v) - 1 for v in made.values()),
        count=len(index),
    )


class PassageLog:
    """The passage ids each parent got while records were split, in order (a parent given twice: two lists)."""

    def __init__(self) -> None:
        self.made: dict[str, list[list[str]]] = {}

    def __call__(self, key: str, ids: list[str]) -> None:
        self.made.setdefault(key, []).append(ids)

    def stale(self, before: dict[str, list[str]]) -> list[str]:
        """The passages to delete: those of each parent's earlier versions (``before``: in the index already;
        earlier in this call) that its last version did not write again."""
        stale: list[str] = []
        for key, versions in self.made.items():
            old = set(before.get(key, ())).union(*map(set, versions[:-1]))
            stale.extend(sorted(old - set(versions[-1])))
        return stale


def delete_passages(
    index: Any, ids: Iterable[Any] | str | int, delete_rows: Callable[[list[str]], Any]
) -> DeleteResult:
    """Delete parents (all their passages) or single passages by id; unknown ids go to ``not_found``."""
    unique = ids_to_delete(ids)
    pairs = list(index.id_parent_pairs())
    parents = parent_rows(pairs)
    rows = {row for row, _ in pairs}
    targets: list[str] = []
    not_found: list[Any] = []
    for key, value in unique.items():
        if key in parents:
            targets.extend(parents[key])
        elif key in rows:
            targets.append(key)
        else:
            not_found.append(value)
    if targets:
        delete_rows(list(dict.fromkeys(targets)))
    return DeleteResult(deleted=len(unique) - len(not_found), not_found=not_found, count=len(index))


class PassageEdits:
    """`SemanticIndex`'s editing with passages: before `IndexEdits` in its bases, whose methods do the rows."""

    passages: Any = None  # PassageSettings, or None: one row per document

    def id_parent_pairs(self) -> Iterable[tuple[str, str]]:
        """``(row id text, parent id text)`` of every row."""
        for doc in self.documents():  # type: ignore[attr-defined]
            yield id_key(doc.get("id")), parent_of(doc)

    @property
    def next_id(self) -> int:
        if self.passages is None:
            return super().next_id  # type: ignore[misc]
        return next_parent_id(parent_rows(self.id_parent_pairs()))

    def add(self, inputs: Inputs) -> AddResult:
        if self.passages is None:
            return super().add(inputs)  # type: ignore[misc]
        return add_passages(self, inputs, super().add, super().delete)  # type: ignore[misc]

    def delete(self, ids: Iterable[Any] | str | int) -> DeleteResult:
        if self.passages is None:
            return super().delete(ids)  # type: ignore[misc]
        return delete_passages(self, ids, super().delete)  # type: ignore[misc]
