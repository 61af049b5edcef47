"""A persisted semantic index: vectors, documents and a manifest in one folder.

Layout of an index folder::

    manifest.json          model name and weights checksum, dimension, normalisation,
                           precision, kind (under its old key "backend"), count, corpus
                           fingerprint, file checksums, and its own checksum (see `nlu_toolkit.search.manifest`)
    vectors.safetensors    "embeddings" float32 (n, dim), "offsets" int64 (n + 1,) into
                           docs.jsonl, and "codes"/"ranges" for int8 or ubinary precision
    docs.jsonl             one document per line: {"id", "text", ...passthrough}; one per id
    ann.usearch            the approximate index, with kind "usearch"

Vectors are safetensors, never pickle. Documents are read back by byte offset, so a
search touches only the lines of its hits and loading an index never parses every
text. Building streams the input: texts go to disk as they are encoded.

Saving never replaces what it should not (a file, a folder that is not an index, an
index without ``overwrite``), holds the index's lock (`nlu_toolkit.io.lock`) and swaps
the finished folder into place; loading verifies every checksum. `close` (or ``with``)
removes the temporary staging folder an index keeps its documents in.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from nlu_toolkit.engine.options import RunFields, RunOptions
from nlu_toolkit.errors import InputError, UsageError, check_choice
from nlu_toolkit.io.readers import check_text
from nlu_toolkit.io.staging import staging_folder
from nlu_toolkit.models.resolver import ModelInfo
from nlu_toolkit.records import merge_passthrough, with_fields
from nlu_toolkit.search.edits import IndexEdits
from nlu_toolkit.search.fusion import ALPHA, FUSION, RRF_K, Ranking
from nlu_toolkit.search.hybrid import LexicalPart
from nlu_toolkit.search.ids import AddResult, DeleteResult
from nlu_toolkit.search.manifest import (
    ANN,
    BACKENDS,
    DOCS,
    FORMAT,
    KINDS,
    MANIFEST,
    VECTORS,
    VERSION,
    is_index_folder,
    read_manifest,
)
from nlu_toolkit.search.passage_edits import PassageEdits
from nlu_toolkit.search.passages import check_passages, model_limit, per_document_results
from nlu_toolkit.search.store import IndexStore
from nlu_toolkit.tasks.common import Inputs, check_positive
from nlu_toolkit.tasks.embed import Embedder, check_precision

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing.Unpack is Python 3.11+

__all__ = [
    "ANN",
    "BACKENDS",
    "DOCS",
    "FORMAT",
    "KINDS",
    "MANIFEST",
    "VECTORS",
    "VERSION",
    "AddResult",
    "DeleteResult",
    "Hit",
    "SearchResult",
    "SemanticIndex",
    "is_index_folder",
    "read_manifest",
]


@dataclass
class Hit:
    rank: int
    index: int  # row in the index
    score: float
    doc: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return merge_passthrough(
            {"rank": self.rank, "id": self.doc.get("id"), "score": self.score},
            {k: v for k, v in self.doc.items() if k != "id"},
        )


@dataclass
class SearchResult:
    """``{"query_index", "query", "hits": [{"rank", "id", "score", "text", ...passthrough}]}``."""

    query_index: int
    query: str
    hits: list[Hit]

    def to_dict(self) -> dict[str, Any]:
        return {"query_index": self.query_index, "query": self.query, "hits": [h.to_dict() for h in self.hits]}


class SemanticIndex(IndexStore, PassageEdits, IndexEdits, LexicalPart):
    """Vectors of a corpus plus its documents; exact, quantized or approximate search.

    Build one with `build` (or `load` a saved one), grow it with `add` (a document whose id is
    already in the index replaces it), remove documents with `delete`, persist it with `save`, query
    it with `search`. Only queries are encoded at search time. Ids are unique: see `IndexEdits`.

    ``kind`` is how it searches: ``exact`` (every vector, or its int8/ubinary codes, then a
    float32 rescore) or ``usearch`` (approximate, HNSW; the ``ann`` extra). It was called
    ``backend`` before ``backend`` came to mean the inference engine: ``backend=`` is still
    taken here, with a `DeprecationWarning`.
    """

    def __init__(
        self, embedder: Embedder, *, precision: str = "float32", kind: str = "exact", backend: str | None = None
    ) -> None:
        if backend is not None:
            kind = _deprecated_kind(backend, kind)
        check_precision(precision)
        check_choice("kind", kind, KINDS)
        if not embedder.normalize:
            raise UsageError("an index needs normalised vectors", "create the Embedder with normalize=True")
        self.embedder = embedder
        self.precision = precision
        self.kind = kind
        self.embeddings = np.zeros((0, embedder.dimension), dtype=np.float32)
        self.ranges: np.ndarray | None = None
        self.codes: np.ndarray | None = None
        self._ann: Any = None
        # Documents live in a JSONL file; offsets[i]:offsets[i+1] is document i's line.
        self._staging = staging_folder("nlu-index-")  # also removes those of killed runs
        self._docs_path = self._staging / DOCS
        self._docs_path.touch()
        self.offsets = np.zeros(1, dtype=np.int64)
        self.fingerprint = hashlib.sha256()
        self.manifest: dict[str, Any] = {}

    def close(self) -> None:
        """Remove the temporary staging folder (``nlu-index-*`` in the temp dir); the index is unusable after."""
        staging = getattr(self, "_staging", None)
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
            self._staging = None

    def __enter__(self) -> SemanticIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()

    def __len__(self) -> int:
        return int(self.embeddings.shape[0])

    @property
    def model_info(self) -> ModelInfo:
        return self.embedder.model_info

    @property
    def backend(self) -> str:
        """Deprecated name of `kind`."""
        warnings.warn("SemanticIndex.backend is deprecated; use .kind", DeprecationWarning, stacklevel=2)
        return self.kind

    # -- building -----------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        inputs: Inputs,
        model: str | None = None,
        *,
        precision: str = "float32",
        kind: str = "exact",
        long: str = "truncate",
        hybrid: bool = False,
        passages: int | None = None,
        overlap: int | None = None,
        run: RunOptions | None = None,
        **options: Unpack[RunFields],
    ) -> SemanticIndex:
        """Encode ``inputs`` (texts or records with ``text``) into a new index.

        Args:
            precision: ``float32``, ``int8`` or ``ubinary`` (codes searched, float32 rescored).
            kind: ``exact`` or ``usearch`` (see the class). ``backend="exact"|"usearch"`` is its
                deprecated spelling; any other ``backend`` is the inference backend, a run option.
            long: `Embedder`'s ``long``.
            hybrid: also build a lexical (BM25) part, for ``search(mode="lexical"|"hybrid")``.
            passages, overlap: index passages of up to ``passages`` tokens, neighbours sharing up to
                ``overlap``, instead of whole documents (`nlu_toolkit.search.passages`).
            run: how the model runs (`RunOptions`); its fields may also be given as keywords.
        """
        if options.get("backend") in KINDS:
            kind = _deprecated_kind(options.pop("backend"), kind)  # type: ignore[arg-type]
        run = RunOptions.merge(run, **options)
        check_passages(passages, overlap)  # before the model loads
        index = cls(Embedder(model, normalize=True, long=long, run=run), precision=precision, kind=kind)
        index.passages = check_passages(passages, overlap, limit=model_limit(index.embedder))
        index.add(inputs)
        if hybrid:
            index.enable_lexical()
        return index

    # -- searching ----------------------------------------------------------------------

    def search_embeddings(self, queries: np.ndarray, *, top_k: int = 10) -> list[list[tuple[int, float]]]:
        """Top-k ``(row, cosine score)`` per query vector; queries are ``(q, dim)`` float32."""
        from nlu_toolkit.core import retrieval

        if len(self) == 0:
            return [[] for _ in range(len(queries))]
        top_k = min(top_k, len(self))
        if self.kind == "usearch":
            return self._ann.search(queries, top_k)
        if self.precision != "float32":
            return retrieval.quantized_search(
                queries,
                self.codes,
                self.precision,
                ranges=self.ranges,
                top_k=top_k,
                rescore_embeddings=self.embeddings,
            )
        return retrieval.semantic_search(queries, self.embeddings, top_k=top_k, normalized=True)

    def search(
        self,
        queries: str | Sequence[str],
        *,
        top_k: int = 10,
        rerank: str | None = None,
        rerank_top: int | None = None,
        mode: str = "dense",
        fusion: str = FUSION,
        rrf_k: float = RRF_K,
        alpha: float = ALPHA,
        per_document: bool = False,
    ) -> list[SearchResult]:
        """Search with query texts: one `SearchResult` per query, hits by descending score.

        ``per_document``: one hit per parent document (its best passage), ``top_k`` distinct documents.

        ``mode``: ``dense`` (the vectors), ``lexical`` (BM25) or ``hybrid`` (both, fused by ``fusion``
        ``rrf`` with ``rrf_k`` or ``weighted`` with ``alpha``; see `nlu_toolkit.search.fusion`); the last two
        need an index built with ``hybrid=True``, and their hits carry ``rankers`` (ranker -> rank).

        With ``rerank`` (a cross-encoder hub id or folder), the best ``rerank_top``
        candidates (default ``max(4 * top_k, 20)``) are re-scored by the cross-encoder;
        each hit then carries ``score`` (cross-encoder) and ``retrieval_score`` (cosine).
        """
        texts = query_texts(queries, top_k)
        ranking = Ranking(mode, fusion, rrf_k, alpha)
        pool = candidate_pool(top_k, rerank, rerank_top)
        if ranking.lexical:
            search = lambda k: self.ranked_search(texts, ranking, k)  # noqa: E731
        else:
            vectors, _ = self.embedder.encode(texts)  # once, however often a per-document search fetches more
            search = lambda k: self._dense_results(texts, vectors, k)  # noqa: E731
        found = per_document_results(search, pool) if per_document else search(pool)
        return finish_results(found, top_k, rerank, device=self.model_info.device)

    def _dense_results(self, texts: list[str], vectors: np.ndarray, k: int) -> list[SearchResult]:
        """The best ``k`` rows for each query vector, with their documents (ranks are set by the caller)."""
        results = []
        with open(self._docs_path, "rb") as docs:
            for qi, (query, row_hits) in enumerate(zip(texts, self.search_embeddings(vectors, top_k=k), strict=True)):
                hits = [Hit(0, int(i), float(s), self._doc(docs, int(i))) for i, s in row_hits]
                results.append(SearchResult(qi, query, hits))
        return results

    def _doc(self, f: Any, i: int) -> dict[str, Any]:
        f.seek(int(self.offsets[i]))
        return json.loads(f.read(int(self.offsets[i + 1] - self.offsets[i])))

    def documents(self) -> Iterable[dict[str, Any]]:
        """Every document, in index order."""
        with open(self._docs_path, encoding="utf-8") as f:
            for line in f:
                yield json.loads(line)


def query_texts(queries: str | Sequence[str], top_k: int) -> list[str]:
    """The query texts of a search, checked: ``top_k`` positive, at least one query, none empty or too long."""
    check_positive("top_k", top_k)
    texts = [queries] if isinstance(queries, str) else list(queries)
    if not texts:
        raise InputError("no queries given", "give at least one query in {=queries}")
    for i, text in enumerate(texts):
        if not isinstance(text, str) or not text.strip():
            raise UsageError(
                f"query {i + 1} is empty" if len(texts) > 1 else "the query is empty",
                "give a query with some words, e.g. 'refund policy'",
            )
        check_text(text, None, what=f"query {i + 1}" if len(texts) > 1 else "the query")
    return texts


def candidate_pool(top_k: int, rerank: str | None, rerank_top: int | None) -> int:
    """How many hits per query to retrieve: ``top_k``, or the candidates a cross-encoder re-scores."""
    return top_k if rerank is None else max(rerank_top or 4 * top_k, top_k, 20)


def finish_results(results: list[SearchResult], top_k: int, rerank: str | None, *, device: str) -> list[SearchResult]:
    """Re-score with the cross-encoder if asked, keep the best ``top_k`` hits per query and number them."""
    if rerank is not None:
        _rerank(results, rerank, device=device)
    for result in results:
        result.hits = result.hits[:top_k]
        for rank, hit in enumerate(result.hits, 1):
            hit.rank = rank
    return results


def _deprecated_kind(backend: str, kind: str) -> str:
    """``backend=`` meaning the index kind: its old spelling, taken with a `DeprecationWarning`."""
    warnings.warn("backend= for the index kind is deprecated; use kind=", DeprecationWarning, stacklevel=3)
    if kind != "exact" and kind != backend:
        raise UsageError(f"backend={backend!r} and {{=kind}}={kind!r} disagree", "give {=kind} only")
    return backend


def _rerank(results: list[SearchResult], model: str, *, device: str) -> None:
    """Re-score each result's hits with a cross-encoder and sort them by its score."""
    from nlu_toolkit.search.rerank import cross_encoder_scores, load_cross_encoder

    loaded = load_cross_encoder(model, device=device)
    pairs = [(r.query, str(h.doc.get("text", ""))) for r in results for h in r.hits]
    if not pairs:
        return
    it = iter(cross_encoder_scores(loaded.model, pairs))
    for r in results:
        for h in r.hits:
            h.doc = with_fields(h.doc, retrieval_score=h.score)
            h.score = float(next(it))
        r.hits.sort(key=lambda h: -h.score)
