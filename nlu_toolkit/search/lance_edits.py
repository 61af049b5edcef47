"""`LanceEdits`: how a `LanceIndex` grows and shrinks: upsert by id, delete by id, the next free id.

Split from ``lance_search.py`` so that file keeps to opening, building and searching; `LanceIndex`
inherits these methods. In a passage index (``passages`` set) a document's id names all its passages
(`nlu_toolkit.search.passage_edits`). Each window of added records is one Lance commit; the ANN index
is refreshed after each edit (`nlu_toolkit.search.lance_index.refresh_ann`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from nlu_toolkit.errors import InputError, NluError
from nlu_toolkit.search.ids import AddResult, DeleteResult, IdMap, id_key
from nlu_toolkit.search.lance_index import ID, damaged, refresh_ann
from nlu_toolkit.search.lance_rows import Batches
from nlu_toolkit.search.passage_edits import add_passages, delete_passages, next_parent_id, parent_rows
from nlu_toolkit.search.passages import PARENT
from nlu_toolkit.tasks.common import Inputs


class LanceEdits:
    """The editing half of `LanceIndex` (its ``table``, ``embedder``, ``record``, ``passages``, ``uri``)."""

    table: Any
    embedder: Any
    record: dict[str, Any]
    passages: Any
    uri: str
    _next_id: int | None

    def __len__(self) -> int:
        return int(self.table.count_rows())

    @property
    def next_id(self) -> int:
        """The id the next text without one gets: past every integer id and the count."""
        if self.passages is not None:  # of the parent documents
            return next_parent_id(parent_rows(self.id_parent_pairs()))
        if self._next_id is None:
            ids = self.table.to_lance().to_table(columns=[ID]).column(ID).to_pylist()
            self._next_id = IdMap.of({ID: i} for i in ids).next_id(len(ids))
        return self._next_id

    def id_parent_pairs(self) -> Iterable[tuple[str, str]]:
        """``(row id, parent id)`` of every row (a row is its own parent in an index without passages)."""
        columns = [ID, *([PARENT] if PARENT in self.table.schema.names else [])]
        table = self.table.to_lance().to_table(columns=columns)
        ids = table.column(ID).to_pylist()
        return zip(ids, table.column(PARENT).to_pylist() if PARENT in columns else ids, strict=True)

    def add(self, inputs: Inputs) -> AddResult:
        """Upsert documents by id; in a passage index each document's passages replace all its old ones."""
        if self.passages is not None:
            return add_passages(self, inputs, self._add_rows, self._delete_rows, parent_key=True)
        return self._add_rows(inputs)

    def _add_rows(self, inputs: Inputs) -> AddResult:
        """Encode and upsert documents by id (one whose id is in the table replaces it), then refresh the ANN
        index. Each window of records is one commit."""
        batches = Batches(self.embedder, inputs, id_start=self.next_id, schema=self.table.schema)
        added = replaced = 0
        self._next_id = None
        try:
            for batch in batches:
                result = (
                    self.table.merge_insert(ID).when_matched_update_all().when_not_matched_insert_all().execute(batch)
                )
                added += result.num_inserted_rows
                replaced += result.num_updated_rows - batches.seen_before
        except NluError:
            raise
        except Exception as e:
            raise damaged(self.uri, e) from e
        refresh_ann(self.table, self.record["dimension"])
        return AddResult(added=added, replaced=replaced, repeated=batches.repeated, count=len(self))

    def delete(self, ids: Iterable[Any] | str | int) -> DeleteResult:
        """Remove documents by id; in a passage index a document's id removes all its passages."""
        if self.passages is not None:
            return delete_passages(self, ids, self._delete_rows)
        return self._delete_rows(ids)

    def _delete_rows(self, ids: Iterable[Any] | str | int) -> DeleteResult:
        """Remove the documents with these ids (matched by text); unknown ids are counted in ``not_found``."""
        given = [ids] if isinstance(ids, (str, int)) else list(ids)
        if not given:
            raise InputError("no ids given", "give the ids of the documents to delete")
        keys = list(dict.fromkeys(id_key(i) for i in given))
        found: set[str] = set()
        for start in range(0, len(keys), 1000):
            condition = in_list(keys[start : start + 1000])
            rows = self.table.to_lance().to_table(columns=[ID], filter=condition)
            found.update(rows.column(ID).to_pylist())
            if rows.num_rows:
                self.table.delete(condition)
        not_found = [g for g in dict.fromkeys(given) if id_key(g) not in found]
        if found:
            self._next_id = None
            refresh_ann(self.table, self.record["dimension"])
        return DeleteResult(deleted=len(found), not_found=not_found, count=len(self))


def in_list(keys: list[str]) -> str:
    """The SQL condition ``id IN (...)`` for ``keys``, quoted."""
    quoted = ", ".join("'" + k.replace("'", "''") + "'" for k in keys)
    return f"{ID} IN ({quoted})"
