"""Adding, replacing and deleting the documents of a `SemanticIndex`, one entry per id.

Split from ``index.py``, which keeps to building and searching; `SemanticIndex` inherits these
methods from `IndexEdits`. A document whose id is already in the index replaces it in place (its
row keeps its position; vector, codes, ANN entry, text and passthrough fields are the new ones); a
deletion compacts the rows, so row ``i`` is always line ``i`` of the documents, vector ``i`` and ANN
key ``i``. Ids match by their text (see `nlu_toolkit.search.ids`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from nlu_toolkit.io.writers import dumps
from nlu_toolkit.records import with_fields
from nlu_toolkit.search.ids import AddResult, DeleteResult, IdMap, id_key, ids_to_delete, rewrite_docs
from nlu_toolkit.tasks.common import Inputs


class IndexEdits:
    """The editing half of `SemanticIndex` (its attributes are the index's)."""

    _id_map: IdMap | None = None

    def _ids(self) -> IdMap:
        """The id map, read from the documents on first use (loading and searching never need it)."""
        if self._id_map is None:
            self._id_map = IdMap.of(self.documents())  # type: ignore[attr-defined]
        return self._id_map

    @property
    def next_id(self) -> int:
        """The id the next text without one gets: past every integer id, so it never replaces a document."""
        return self._ids().next_id(len(self))  # type: ignore[arg-type]

    def add(self, inputs: Inputs) -> AddResult:
        """Encode and add documents; one whose id is already in the index replaces it (upsert).

        Within one call, a repeated id keeps its last record. Texts without ids get new ids
        (`next_id` on), so they are always added. Texts are written to disk window by window, so
        only vectors stay in memory.
        """
        ids = self._ids()
        old = len(self)  # type: ignore[arg-type]
        parts, ends = [self.embeddings], [self.offsets]  # type: ignore[attr-defined]
        vectors_of: dict[int, np.ndarray] = {}  # replaced rows: their new vectors and lines
        lines_of: dict[int, bytes] = {}
        drop: list[int] = []  # further rows of replaced ids (indexes saved before ids were unique)
        seen: set[str] = set()
        added = replaced = repeated = 0
        with open(self._docs_path, "ab") as f:  # type: ignore[attr-defined]
            position = f.tell()
            for window, vectors, truncated in self.embedder.embed(inputs, id_start=self.next_id):  # type: ignore[attr-defined]
                lengths, fresh = [], []
                for j, (record, cut) in enumerate(zip(window, truncated, strict=True)):
                    doc = with_fields(record, truncated=True) if cut else dict(record)
                    line = (dumps(doc) + "\n").encode("utf-8")
                    key = id_key(doc.get("id"))
                    row = ids.rows.get(key)
                    if key in seen:
                        repeated += 1
                    elif row is not None:
                        replaced += 1
                        drop.extend(ids.extra.pop(key, []))
                    else:
                        added += 1
                    seen.add(key)
                    if row is not None:
                        vectors_of[row], lines_of[row] = vectors[j], line
                        continue
                    ids.put(key, old + added - 1)
                    f.write(line)
                    self.fingerprint.update(line)  # type: ignore[attr-defined]
                    lengths.append(len(line))
                    fresh.append(j)
                ends.append(position + np.cumsum(lengths, dtype=np.int64))
                position += sum(lengths)
                parts.append(vectors[fresh])
        self.embeddings = np.concatenate(parts).astype(np.float32, copy=False)
        self.offsets = np.concatenate(ends)
        rows = np.asarray(sorted(vectors_of), dtype=np.int64)
        if len(rows):
            self.embeddings[rows] = np.stack([vectors_of[r] for r in rows.tolist()])
        self._refresh_codes(new=added)
        self._replace_rows(rows[rows < old])
        if lines_of or drop:
            self._compact(np.asarray(drop, dtype=np.int64), lines_of)
        return AddResult(added=added, replaced=replaced, repeated=repeated, count=len(self))  # type: ignore[arg-type]

    def delete(self, ids: Iterable[Any] | str | int) -> DeleteResult:
        """Remove the documents with these ids (matched by text: ``3`` and ``"3"`` are one id).

        Ids not in the index are reported in ``not_found``, not raised; an id given twice counts once.
        """
        unique = ids_to_delete(ids)
        known = self._ids()
        rows: list[int] = []
        not_found: list[Any] = []
        for key, value in unique.items():
            if key in known.rows:
                rows.append(known.rows.pop(key))
                rows.extend(known.extra.pop(key, []))
            else:
                not_found.append(value)
        if rows:
            self._compact(np.asarray(rows, dtype=np.int64), {})
        return DeleteResult(deleted=len(unique) - len(not_found), not_found=not_found, count=len(self))  # type: ignore[arg-type]

    def _refresh_codes(self, new: int) -> None:
        """Quantize and ANN-index the ``new`` rows at the end."""
        if self.precision != "float32" and new:  # type: ignore[attr-defined]
            from nlu_toolkit.core.retrieval import quantize

            # int8 ranges are calibrated on the first documents and reused by later additions,
            # so old and new codes stay comparable.
            fresh, self.ranges = quantize(self.embeddings[len(self) - new :], self.precision, self.ranges)  # type: ignore
            self.codes = fresh if self.codes is None else np.concatenate([self.codes, fresh])
        if self.kind == "usearch":  # type: ignore[attr-defined]
            from nlu_toolkit.search.ann import AnnIndex

            if self._ann is None:
                self._ann = AnnIndex(self.embedder.dimension)  # type: ignore[attr-defined]
            if new:
                self._ann.add(self.embeddings[len(self) - new :], start_key=len(self) - new)  # type: ignore

    def _replace_rows(self, rows: np.ndarray) -> None:
        """Codes and ANN entries of ``rows`` (already there) from their new vectors."""
        if not len(rows):
            return
        if self.codes is not None:
            from nlu_toolkit.core.retrieval import quantize

            codes, _ = quantize(self.embeddings[rows], self.precision, self.ranges)  # type: ignore[attr-defined]
            self.codes = self.codes.copy() if not self.codes.flags.writeable else self.codes
            self.codes[rows] = codes
        if self._ann is not None:
            self._ann.replace(rows, self.embeddings[rows])

    def _compact(self, drop: np.ndarray, lines: dict[int, bytes]) -> None:
        """Drop the rows ``drop`` (vectors, codes, ANN keys, documents) and write ``lines`` in place of theirs."""
        total = len(self)  # type: ignore[arg-type]
        keep = None
        if len(drop):
            keep = np.ones(total, dtype=bool)
            keep[drop] = False
            self.embeddings = self.embeddings[keep]
            if self.codes is not None:
                self.codes = self.codes[keep]
            if self._ann is not None:
                self._ann.delete(drop, total)
        self.offsets, self.fingerprint = rewrite_docs(self._docs_path, self.offsets, keep, lines)  # type: ignore
        if keep is not None:
            self._ids().remap(keep)
