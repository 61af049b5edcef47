"""The lexical part of a Lance index: lancedb's own full-text index (BM25) on the ``text`` column.

``nlu index build DIR.lance --index-backend lance --hybrid`` (``LanceIndex.create(..., hybrid=True)``)
builds it after the table's first commit. Its texts are split as the folder index's BM25 part splits them
(lower case, English stop words dropped, no stemming; ASCII folding on). Lance keeps it in step with the
table itself: rows added later are searched too (scanned until ``optimize`` folds them into the index,
which `refresh_ann` runs once the table has an ANN index) and deleted rows are never returned. A ``where``
filter applies to this ranker as to the vector one (a prefilter).
"""

from __future__ import annotations

from typing import Any

from nlu_toolkit.search.lance_index import TEXT


def build_fts(table: Any) -> None:
    """Build (or rebuild) the full-text index on the table's ``text`` column."""
    from lancedb.index import FTS

    table.create_index(TEXT, config=FTS(stem=False, remove_stop_words=True), replace=True)


def has_fts(table: Any) -> bool:
    """Whether the table has a full-text index on its ``text`` column."""
    return any(
        str(getattr(i, "index_type", "")).upper() == "FTS" and list(getattr(i, "columns", [])) == [TEXT]
        for i in table.list_indices()
    )


def lexical_record(table: Any) -> dict[str, Any] | None:
    """What ``nlu index info`` reports of the full-text index (as the folder index's ``lexical`` record),
    or None when the table has none."""
    if not has_fts(table):
        return None
    return {"library": "lancedb", "method": "FTS (BM25)", "stopwords": "en", "stem": False}


def fts_rows(
    table: Any, text: str, k: int, where: str | None, columns: list[str]
) -> list[tuple[dict[str, Any], float]]:
    """The best ``k`` rows (their ``columns``) for ``text`` by BM25, with their scores, best first."""
    query = table.search(text, query_type="fts", fts_columns=TEXT)
    if where is not None:
        query = query.where(where, prefilter=True)
    rows = query.select([*columns, "_score"]).limit(k).to_arrow().to_pylist()
    return [(row, float(row.pop("_score"))) for row in rows]


def ranked_search(index: Any, texts: list[str], ranking: Any, wanted: int, where: str | None) -> list[Any]:
    """`SearchResult` per query in mode lexical or hybrid on the Lance index ``index``: ``wanted`` fused hits
    each (not yet numbered), ``where`` applied to both rankers."""
    from nlu_toolkit.errors import NluError
    from nlu_toolkit.search.hybrid import fused_results, no_lexical_part
    from nlu_toolkit.search.index import Hit

    _, columns = index._state()
    try:
        found = has_fts(index.table)
    except Exception as e:
        raise index._read_error(e, None) from e
    if not found:
        raise no_lexical_part(index.uri, " --index-backend lance")
    pool = ranking.pool(wanted)
    lexical = []
    for text in texts:
        try:
            rows = fts_rows(index.table, text, pool, where, columns)
        except NluError:
            raise
        except Exception as e:
            raise index._read_error(e, where) from e
        lexical.append([Hit(0, -1, score, {c: v for c, v in row.items() if v is not None}) for row, score in rows])
    dense: list[list[Any]] = [[] for _ in texts]
    if ranking.mode == "hybrid":
        vectors, _ = index.embedder.encode(texts)
        dense = [index._hits(vector, pool, where) for vector in vectors]
    return fused_results(texts, dense, lexical, ranking, wanted)
