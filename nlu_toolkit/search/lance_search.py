"""`LanceIndex`: a Lance table searched, grown and shrunk behind the interface of `SemanticIndex`.

``search`` (query texts to `SearchResult`), ``add`` (upsert by id), ``delete``, ``documents``,
``model_info``, ``manifest``, ``len``, ``close``: what ``open_index``/``search()``, the CLI, ``nlu serve``
and ``nlu app`` call (``add``, ``delete`` and ``next_id`` are `nlu_toolkit.search.lance_edits`'s). The table format and its metadata are `nlu_toolkit.search.lance_index`'s.
Writes are Lance commits (atomic; readers hold no lock); a build is one commit, data and model record
together, so a failed build leaves nothing behind (or the previous version, with ``overwrite``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from nlu_toolkit.engine.options import RunFields, RunOptions
from nlu_toolkit.errors import IndexCorrupted, NluError, UsageError
from nlu_toolkit.models.resolver import ModelInfo
from nlu_toolkit.search.fusion import ALPHA, FUSION, RRF_K, Ranking
from nlu_toolkit.search.index import Hit, SearchResult, candidate_pool, finish_results, query_texts
from nlu_toolkit.search.lance_edits import LanceEdits, in_list
from nlu_toolkit.search.lance_index import (
    ID,
    KIND,
    META_KEY,
    NPROBES,
    REFINE_FACTOR,
    REFRESH_S,
    TEXT,
    VECTOR,
    ann_plan,
    build_ann,
    connect,
    damaged,
    has_ann,
    local_path,
    metadata_record,
    open_table,
    read_metadata,
    stamp,
    vector_dimension,
    verify_files,
)
from nlu_toolkit.search.lance_rows import Batches, table_schema
from nlu_toolkit.search.passage_edits import PassageLog
from nlu_toolkit.search.passages import KEY as PASSAGES
from nlu_toolkit.search.passages import (
    check_passages,
    model_limit,
    passage_records,
    per_document_results,
    settings_of,
)
from nlu_toolkit.tasks.common import Inputs, as_records
from nlu_toolkit.tasks.embed import Embedder

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing.Unpack is Python 3.11+

#: Columns of the table that are not passthrough.
OWN = (ID, TEXT, VECTOR)


class LanceIndex(LanceEdits):
    """A Lance table of documents and vectors, with the model that made them (see `lance_index`)."""

    kind = KIND
    precision = "float32"

    def __init__(
        self, uri: str, table: Any, embedder: Embedder, record: dict[str, Any], storage_options: dict | None
    ) -> None:
        self.uri, self.table, self.embedder, self.record = str(uri), table, embedder, record
        self.storage_options = storage_options
        self._next_id: int | None = None
        self._stamp = _stamp_of(table)
        self._seen: tuple[int, bool, list[str]] | None = None  # (table version, has an ANN index, columns)
        self.passages = settings_of(record, uri)  # passage settings (`nlu_toolkit.search.passages`), or None

    # -- life ---------------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        uri: str | os.PathLike[str],
        model: str | None = None,
        *,
        storage_options: dict[str, str] | None = None,
        verify: bool = True,
        refresh_s: float | None = REFRESH_S,
        run: RunOptions | None = None,
        **options: Unpack[RunFields],
    ) -> LanceIndex:
        """Open the Lance index at ``uri`` with its own model (``model``, if given, must have the same weights).

        Searches look for a newer version of the table at most every ``refresh_s`` seconds (None: never),
        so documents added meanwhile (by ``nlu index add`` or a job) are found; a table replaced by one with
        another model record is refused (`IndexCorrupted`), never searched with the wrong model.

        Raises:
            InputError: no table there. IndexCorrupted: no or a damaged model record, a missing or
            truncated file. ModelMismatch: ``model`` is another model.
        """
        from nlu_toolkit.search.model_record import embedder_for

        table = open_table(uri, storage_options, refresh_s)
        record = read_metadata(table, uri)
        if vector_dimension(table, uri) != record["dimension"]:
            raise damaged(uri, "its vector column and its model record disagree on the dimension")
        if verify:
            verify_files(table, uri)
        embedder = embedder_for(uri, record, model, RunOptions.merge(run, **options))  # type: ignore[arg-type]
        return cls(str(uri), table, embedder, record, storage_options)

    @classmethod
    def create(
        cls,
        uri: str | os.PathLike[str],
        inputs: Inputs,
        model: str | None = None,
        *,
        long: str = "truncate",
        overwrite: bool = False,
        storage_options: dict[str, str] | None = None,
        hybrid: bool = False,
        passages: int | None = None,
        overlap: int | None = None,
        run: RunOptions | None = None,
        **options: Unpack[RunFields],
    ) -> LanceIndex:
        """Encode ``inputs`` into a new Lance table at ``uri`` (one commit), then build its ANN index.

        An existing table is replaced only with ``overwrite`` (as a new version: readers of the old one
        are not disturbed). ``hybrid``: also build a full-text index on ``text`` (`lance_lexical`), for
        ``search(mode="lexical"|"hybrid")``. ``passages``, ``overlap``: rows are passages of the documents, as
        `SemanticIndex.build` makes them (the settings go in the model record, for later ``add`` calls).
        """
        import pyarrow as pa

        check_passages(passages, overlap)  # before the model loads
        embedder = Embedder(model, normalize=True, long=long, run=RunOptions.merge(run, **options))
        record = metadata_record(
            embedder.model_info, dimension=embedder.dimension, normalized=True, max_length=embedder.limit, long=long
        )
        log = PassageLog()  # a parent given twice: the passages only its first version had are deleted after
        if settings := check_passages(passages, overlap, limit=model_limit(embedder)):
            record[PASSAGES] = settings.to_dict()
            inputs = passage_records(as_records(inputs), embedder.loaded.tokenizer, settings, parent_key=True, seen=log)
        conn, name = connect(uri, storage_options)
        if not overwrite and name in _table_names(conn):
            from nlu_toolkit.errors import OutputError

            raise OutputError(
                f"{uri} is a Lance index already", "add --overwrite to replace it, or nlu index add to grow it"
            )
        batches = Batches(embedder, inputs, id_start=0)
        first = batches.first()
        schema = table_schema(first, embedder.dimension).with_metadata({META_KEY: stamp(record)})
        batches.schema = schema
        folder = local_path(uri)
        fresh = folder is not None and not folder.exists()
        try:
            table = conn.create_table(
                name, pa.RecordBatchReader.from_batches(schema, batches), mode="overwrite" if overwrite else "create"
            )
        except BaseException as e:
            if fresh and folder is not None and not (folder / "_versions").exists():
                shutil.rmtree(folder, ignore_errors=True)  # nothing was committed: leave no half-written folder
            if batches.error is not None:
                raise batches.error from None
            if isinstance(e, Exception) and not isinstance(e, NluError):
                from nlu_toolkit.errors import OutputError

                raise OutputError(
                    f"cannot write the Lance index ({str(e).splitlines()[0][:300]})",
                    "check the path, its permissions and the free space",
                    path=str(uri),
                ) from e
            raise
        if stale := log.stale({}):
            table.delete(in_list(stale))
        build_ann(table, ann_plan(table.count_rows(), embedder.dimension))
        if hybrid:
            from nlu_toolkit.search.lance_lexical import build_fts

            build_fts(table)
        return cls(str(uri), table, embedder, record, storage_options)

    def close(self) -> None:
        """Nothing to remove (the table is on disk); kept for the interface of `SemanticIndex`."""

    def __enter__(self) -> LanceIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def model_info(self) -> ModelInfo:
        return self.embedder.model_info

    @property
    def manifest(self) -> dict[str, Any]:
        """The model record, with the count, the ANN and full-text indexes: the keys an index folder's manifest has."""
        from nlu_toolkit.search.lance_lexical import lexical_record

        lexical = lexical_record(self.table)
        return {
            **{k: v for k, v in self.record.items() if k != "record_sha256"},
            "count": len(self),
            "ann": "IVF_PQ" if has_ann(self.table) else "exact",
            "table_version": self.table.version,
            "corpus_fingerprint": None,
            **({"lexical": lexical} if lexical else {}),
        }

    # -- searching ------------------------------------------------------------------------------

    def search(
        self,
        queries: str | Sequence[str],
        *,
        top_k: int = 10,
        rerank: str | None = None,
        rerank_top: int | None = None,
        where: str | None = None,
        mode: str = "dense",
        fusion: str = FUSION,
        rrf_k: float = RRF_K,
        alpha: float = ALPHA,
        per_document: bool = False,
    ) -> list[SearchResult]:
        """Search with query texts, as `SemanticIndex.search` (``mode``, ``fusion``, ``rrf_k``, ``alpha``, ``per_document`` too: the
        lexical ranker is the table's full-text index); ``where`` is an SQL filter on the passthrough columns
        (``topic = 'shipping'``), applied before the search (to both rankers) so ``top_k`` matching hits come back."""
        texts = query_texts(queries, top_k)
        ranking = Ranking(mode, fusion, rrf_k, alpha)
        if where is not None:
            self.check_where(where)
        pool = candidate_pool(top_k, rerank, rerank_top)
        if per_document:  # one hit per parent document (`nlu_toolkit.search.passages`)
            options = {"where": where, "mode": mode, "fusion": fusion, "rrf_k": rrf_k, "alpha": alpha}
            found = per_document_results(lambda k: self.search(texts, top_k=k, **options), pool)  # type: ignore[arg-type]
            return finish_results(found, top_k, rerank, device=self.model_info.device)
        if ranking.lexical:
            from nlu_toolkit.search.lance_lexical import ranked_search

            found = ranked_search(self, texts, ranking, pool, where)
            return finish_results(found, top_k, rerank, device=self.model_info.device)
        vectors, _ = self.embedder.encode(texts)
        results = [
            SearchResult(qi, text, self._hits(vector, pool, where))
            for qi, (text, vector) in enumerate(zip(texts, vectors, strict=True))
        ]
        return finish_results(results, top_k, rerank, device=self.model_info.device)

    def search_embeddings(
        self, queries: np.ndarray, *, top_k: int = 10, where: str | None = None
    ) -> list[list[tuple[str, float]]]:
        """Top-k ``(id, cosine score)`` per query vector."""
        return [[(h.doc[ID], h.score) for h in self._hits(q, top_k, where)] for q in np.asarray(queries, np.float32)]

    def _state(self) -> tuple[bool, list[str]]:
        """Whether the table (as of its latest version) has an ANN index, and the columns a hit reads;
        refuses a table whose model record changed since it was opened."""
        try:
            version = self.table.version
            if self._seen is None or self._seen[0] != version:
                if _stamp_of(self.table) != self._stamp:
                    raise IndexCorrupted(
                        f"Lance index {self.uri} was replaced since it was opened, with another model",
                        "open it again (restart the server) to search the new table with its model",
                    )
                columns = [c for c in self.table.schema.names if c != VECTOR]
                self._seen = (version, has_ann(self.table), columns)
        except NluError:
            raise
        except Exception as e:
            raise damaged(self.uri, e) from e
        return self._seen[1], self._seen[2]

    def _hits(self, vector: np.ndarray, k: int, where: str | None) -> list[Hit]:
        ann, columns = self._state()
        query = self.table.search(np.asarray(vector, np.float32), vector_column_name=VECTOR).distance_type("cosine")
        query = query.nprobes(NPROBES).refine_factor(REFINE_FACTOR) if ann else query.bypass_vector_index()
        if where is not None:
            query = query.where(where, prefilter=True)
        try:
            rows = query.select([*columns, "_distance"]).limit(k).to_arrow().to_pylist()
        except Exception as e:
            raise self._read_error(e, where) from e
        hits = []
        for i, row in enumerate(rows):
            score = 1.0 - float(row.pop("_distance"))
            doc = {c: v for c, v in row.items() if v is not None and not c.startswith("_")}
            hits.append(Hit(i + 1, -1, score, doc))
        return hits

    def check_where(self, where: str) -> None:
        """Refuse (`UsageError` naming ``where``) a filter that does not parse or names no column of the table;
        plans the query, reads no rows."""
        if not where.strip():
            raise UsageError("{=where} is empty", "give an SQL condition, e.g. \"topic = 'shipping'\"")
        try:
            self.table.to_lance().scanner(filter=where, columns=[ID]).explain_plan()
        except Exception as e:
            raise self._read_error(e, where) from e

    def _read_error(self, error: Exception, where: str | None) -> NluError:
        text = str(error)
        if where is not None and any(w in text for w in ("parse", "SQL", "Schema error", "No field", "user input")):
            passthrough = [c for c in self.table.schema.names if c not in OWN]
            return UsageError(
                f"{{=where}} {where!r} is not a filter on this index ({text.splitlines()[0][:200]})",
                f"write an SQL condition on its columns: {', '.join(['id', 'text', *passthrough])}",
            )
        return damaged(self.uri, error)

    def documents(self) -> Iterable[dict[str, Any]]:
        """Every document (id, text, passthrough), in table order."""
        columns = [c for c in self.table.schema.names if c != VECTOR]
        for batch in self.table.to_lance().to_batches(columns=columns):
            for row in batch.to_pylist():
                yield {c: v for c, v in row.items() if v is not None}

    @property
    def embeddings(self) -> np.ndarray:
        """Every vector, in table order (the whole column in memory: for small tables)."""
        column = self.table.to_lance().to_table(columns=[VECTOR]).column(VECTOR).combine_chunks()
        return np.asarray(column.values, dtype=np.float32).reshape(-1, self.record["dimension"])


def _stamp_of(table: Any) -> tuple[Any, ...] | None:
    """What queries depend on in a table's model record: the weights, dimension and token handling."""
    import json

    raw = (table.schema.metadata or {}).get(META_KEY.encode())
    try:
        record = json.loads(raw) if raw else {}
    except ValueError:
        return None
    model = record.get("model") if isinstance(record.get("model"), dict) else {}
    return (model.get("sha256"), record.get("dimension"), record.get("max_length"), record.get("long"))


def _table_names(conn: Any) -> list[str]:
    listed = conn.table_names() if hasattr(conn, "table_names") else conn.list_tables().tables
    return list(listed)
