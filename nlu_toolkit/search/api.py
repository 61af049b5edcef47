"""The library's search: queries against a corpus (indexed on the fly) or a saved index, in one call.

``search(queries, corpus=... | index=..., top_k=10, rerank=None)`` is what ``nlu embed --search``,
``nlu serve``'s ``/search`` and the web app build on: the corpus-or-index choice, the query checks and
the index's life are decided here once. `open_index` gives the index itself, for a caller that reports
its model or searches many times.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from nlu_toolkit.engine.options import RunFields, RunOptions
from nlu_toolkit.errors import InputError, UsageError
from nlu_toolkit.io.readers import check_text, iter_records
from nlu_toolkit.search.fusion import ALPHA, FUSION, RRF_K
from nlu_toolkit.search.hybrid import check_lexical_part
from nlu_toolkit.search.index import SearchResult, SemanticIndex
from nlu_toolkit.search.lance_index import is_lance_uri

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing.Unpack is Python 3.11+

    from nlu_toolkit.search.lance_search import LanceIndex

    AnyIndex = SemanticIndex | LanceIndex

#: Run options that do not apply to a loaded index: its model and token limit are the index's own.
NOT_FOR_LOADED = {"max_length": None, "trust_remote_code": False}


def load_index(
    path: str | os.PathLike[str],
    model: str | None = None,
    *,
    storage_options: dict[str, str] | None = None,
    run: RunOptions | None = None,
    **options: Unpack[RunFields],
) -> AnyIndex:
    """The saved index at ``path``: a Lance table (a path or URI ending in ``.lance``, the ``lance`` extra;
    ``storage_options`` for object storage) or an index folder. Close it (or use ``with``) when done."""
    run = RunOptions.merge(run, **options)
    if is_lance_uri(path):
        from nlu_toolkit.search.lance_search import LanceIndex

        return LanceIndex.open(path, model, storage_options=storage_options, run=run)
    if storage_options:
        raise UsageError("{=storage_options} apply to Lance indexes (.lance) only", "drop them for an index folder")
    return SemanticIndex.load(path, model, run=run)


def check_where(index: Any, where: str | None) -> None:
    """Refuse ``where`` on an index that cannot filter (only Lance tables have passthrough columns to filter),
    and a filter that a Lance index cannot apply (checked without reading rows)."""
    if where is None:
        return
    if getattr(index, "kind", None) == "lance":
        index.check_where(where)
        return
    if not where.strip():
        raise UsageError("{=where} is empty", "give an SQL condition, e.g. \"topic = 'shipping'\"")
    raise UsageError(
        "{=where} filters the passthrough columns of Lance indexes only",
        "build the index with: nlu index build FILE --out DIR.lance --index-backend lance, or drop {=where}",
    )


def check_queries(queries: str | Iterable[str], *, max_chars: int | None = None) -> list[str]:
    """The queries as a list, each non-empty and valid text (`InputError` naming ``queries`` otherwise)."""
    listed = [queries] if isinstance(queries, str) else list(queries)
    if not listed:
        raise InputError("{=queries} is empty", "give at least one query")
    for i, text in enumerate(listed):
        if not isinstance(text, str):
            raise InputError(f"query {i} is a {type(text).__name__}, not a string", "give queries as strings")
        if not text.strip():
            raise InputError(f"query {i} is empty", "give a query with some words, e.g. 'refund policy'")
        check_text(text, max_chars, what=f"query {i}")
    return listed


@contextmanager
def open_index(
    *,
    corpus: Iterable[Any] | str | os.PathLike[str] | None = None,
    index: AnyIndex | str | os.PathLike[str] | None = None,
    model: str | None = None,
    kind: str = "exact",
    long: str = "truncate",
    progress: Callable[[int], None] | None = None,
    reading: dict[str, Any] | None = None,
    index_backend: str | None = None,
    storage_options: dict[str, str] | None = None,
    hybrid: bool = False,
    run: RunOptions | None = None,
    **options: Unpack[RunFields],
) -> Iterator[AnyIndex]:
    """The index to search: built from ``corpus`` (texts, records, or a file path read with ``reading``,
    the options of `iter_records`), or loaded from the folder ``index``, or ``index`` itself when it is a
    `SemanticIndex` already open (left open). Exactly one of ``corpus`` and ``index``. An ``index`` path
    ending in ``.lance`` (local, ``file://``, ``s3://``, ``gs://``; ``storage_options`` for the latter) is
    a Lance table (`nlu_toolkit.search.lance_search.LanceIndex`).

    ``kind`` (``exact`` or ``usearch``; ``index_backend`` is its deprecated name) and ``long`` apply
    when ``corpus`` is indexed. ``run`` (or its fields as keywords) says how the model runs; a loaded
    index keeps its own model and token limit, so ``max_length`` and ``trust_remote_code`` do not
    apply to it. ``hybrid``: a ``corpus``'s index also gets a lexical (BM25) part.
    """
    run = RunOptions.merge(run, **options)
    if index_backend is not None:
        warnings.warn("index_backend= is deprecated; use kind=", DeprecationWarning, stacklevel=3)
        if kind not in ("exact", index_backend):
            raise UsageError("index_backend= and {=kind} disagree", "give {=kind} only")
        kind = index_backend
    if (corpus is None) == (index is None):
        raise UsageError(
            "search needs exactly one of {=corpus} or {=index}", "give {=corpus} (texts or a file) or {=index}"
        )
    if index is not None and not isinstance(index, (str, os.PathLike)):
        yield index  # an index already open (SemanticIndex or LanceIndex), left open
        return
    if index is not None:
        if kind != "exact":
            raise UsageError("{=kind} applies when building an index", "give it when the index is built")
        loaded = load_index(
            index, model, storage_options=storage_options, run=dataclasses.replace(run, **NOT_FOR_LOADED)
        )
        with loaded:
            yield loaded
        return
    if isinstance(corpus, (str, os.PathLike)):
        corpus = iter_records(corpus, progress=progress, **(reading or {}))
    built = SemanticIndex.build(corpus, model, kind=kind, long=long, hybrid=hybrid, run=run)  # type: ignore[arg-type]
    with built:
        yield built


def search(
    queries: str | Iterable[str],
    *,
    corpus: Iterable[Any] | str | os.PathLike[str] | None = None,
    index: AnyIndex | str | os.PathLike[str] | None = None,
    model: str | None = None,
    top_k: int = 10,
    rerank: str | None = None,
    kind: str = "exact",
    long: str = "truncate",
    index_backend: str | None = None,
    where: str | None = None,
    storage_options: dict[str, str] | None = None,
    mode: str = "dense",
    fusion: str = FUSION,
    rrf_k: float = RRF_K,
    alpha: float = ALPHA,
    per_document: bool = False,
    run: RunOptions | None = None,
    **options: Unpack[RunFields],
) -> list[SearchResult]:
    """Search ``queries`` in ``corpus`` (indexed for this call) or in the saved ``index``.

    One `SearchResult` per query, hits by descending score; with ``rerank`` (a cross-encoder), the
    best candidates are re-scored. A folder's or corpus's index is closed before returning.
    ``where``: an SQL filter on the passthrough columns (``"topic = 'shipping'"``), for Lance indexes
    (``index="corpus.lance"``); the ``top_k`` best matching documents come back.
    ``kind``, ``long``, ``storage_options``, ``run`` (or its fields as keywords): as `open_index` takes them.
    ``mode``: ``dense`` (vectors), ``lexical`` (BM25) or ``hybrid`` (both, fused by ``fusion`` ``rrf`` with
    ``rrf_k``, or ``weighted`` with ``alpha`` the dense weight); a saved index needs its lexical part for the
    last two (built with ``hybrid``), a ``corpus`` gets one for this call. See `nlu_toolkit.search.fusion`.
    ``per_document``: one hit per document of a passage index (its best passage), ``top_k`` distinct documents.

    Example:
        >>> search("refund", corpus=["Refunds take 5 days.", "Shipping is free."], top_k=1)
    """
    listed = check_queries(queries)  # before any model loads
    ranked = check_lexical_part(index, mode=mode, fusion=fusion, rrf_k=rrf_k, alpha=alpha)  # before any model loads
    if per_document:  # one hit per parent document of a passage index (`nlu_toolkit.search.passages`)
        ranked = {**ranked, "per_document": True}
    if where is not None and (corpus is not None or not _is_lance(index)):
        check_where(None, where)  # before any model loads
    with open_index(
        corpus=corpus,
        index=index,
        model=model,
        kind=kind,
        long=long,
        index_backend=index_backend,
        storage_options=storage_options,
        hybrid=ranked.get("mode", "dense") != "dense",
        run=run,
        **options,
    ) as opened:
        if where is None:
            return opened.search(listed, top_k=top_k, rerank=rerank, **ranked)
        check_where(opened, where)  # before any query is encoded
        return opened.search(listed, top_k=top_k, rerank=rerank, where=where, **ranked)  # type: ignore[call-arg]


def _is_lance(index: Any) -> bool:
    return is_lance_uri(index) if isinstance(index, (str, os.PathLike)) else getattr(index, "kind", None) == "lance"
