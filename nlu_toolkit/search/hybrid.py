"""Lexical and hybrid search on an index folder: the `SemanticIndex` half that holds its BM25 part.

`SemanticIndex` inherits `LexicalPart`: ``hybrid`` (whether it has a lexical part), ``enable_lexical``
(build it from the documents), the save and load of its files (`nlu_toolkit.search.lexical`) and
``ranked_search`` (``mode`` lexical or hybrid, fused as `nlu_toolkit.search.fusion` says). `fused_results`
is the fusion step both index kinds share (the Lance index's lexical ranker is lancedb's full-text index).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

import numpy as np

from nlu_toolkit.errors import UsageError
from nlu_toolkit.records import with_fields
from nlu_toolkit.search.fusion import Ranking, fuse
from nlu_toolkit.search.ids import id_key
from nlu_toolkit.search.lexical import METHOD, STOPWORDS, Lexical

#: The manifest key of the lexical part (absent: the index has none).
LEXICAL = "lexical"


def no_lexical_part(where: Any = None, kind: str = "") -> UsageError:
    """The error of a lexical or hybrid search on an index built without its lexical part."""
    return UsageError(
        f"{{=mode}} lexical and hybrid need the index's lexical part, and {where or 'this index'} was built without it",
        f"rebuild it with one: nlu index build FILE --out {where or 'DIR'}{kind} --hybrid --overwrite; "
        "or search with {=mode} dense",
    )


class LexicalPart:
    """The lexical half of `SemanticIndex` (its attributes are the index's)."""

    _lexical: Lexical | None = None

    @property
    def hybrid(self) -> bool:
        """Whether the index has a lexical (BM25) part, so it can be searched in mode lexical or hybrid."""
        return self._lexical is not None

    def enable_lexical(self) -> None:
        """Build the lexical part from the documents (or rebuild it); saved with the index from now on."""
        texts = (str(doc.get("text", "")) for doc in self.documents())  # type: ignore[attr-defined]
        self._lexical = Lexical.build(texts, self.fingerprint.hexdigest())  # type: ignore[attr-defined]

    def _current_lexical(self) -> Lexical | None:
        """The lexical part, rebuilt first if documents were added, replaced or deleted since it was built."""
        if self._lexical is not None and self._lexical.fingerprint != self.fingerprint.hexdigest():  # type: ignore
            self.enable_lexical()
        return self._lexical

    def _write_lexical(self, folder: Path) -> tuple[list[str], dict[str, Any] | None]:
        """Write the lexical part's files into ``folder``: their names, and the manifest's record of it."""
        lexical = self._current_lexical()
        if lexical is None:
            return [], None
        return lexical.write(folder), {"library": "bm25s", "method": METHOD, "stopwords": STOPWORDS}

    def _read_lexical(self, folder: Path, manifest: dict[str, Any], handles: dict[str, Any]) -> None:
        """Read the lexical part, if the manifest names one, from the open ``handles`` of the index's files."""
        if not manifest.get(LEXICAL):
            return
        self._lexical = Lexical.read(
            handles,
            self._staging,  # type: ignore[attr-defined]
            count=len(self),  # type: ignore[arg-type]
            fingerprint=self.fingerprint.hexdigest(),  # type: ignore[attr-defined]
            where=folder,
        )

    def ranked_search(self, texts: list[str], ranking: Ranking, wanted: int) -> list[Any]:
        """`SearchResult` per query in mode lexical or hybrid: ``wanted`` fused hits each (not yet numbered)."""
        from nlu_toolkit.search.index import Hit

        lexical = self._current_lexical()
        if lexical is None:
            raise no_lexical_part()
        pool = ranking.pool(wanted)
        dense: list[list[tuple[int, float]]] = [[] for _ in texts]
        fills: list[dict[str, dict[int, float]]] = [{} for _ in texts]
        if ranking.mode == "hybrid":
            vectors, _ = self.embedder.encode(texts)  # type: ignore[attr-defined]
            dense = self.search_embeddings(vectors, top_k=pool)  # type: ignore[attr-defined]
        found, bm25 = lexical.search_with(texts, pool, [[int(i) for i, _ in rows] for rows in dense])
        if ranking.mode == "hybrid" and ranking.fusion == "weighted":
            # The other ranker's true score of each candidate only one ranker listed: one dot product with the
            # stored (normalised) vector for a BM25-only row, the BM25 score (0: no shared term) for a dense-only one.
            embeddings = self.embeddings  # type: ignore[attr-defined]
            for q, (rows, vector) in enumerate(zip(found, vectors, strict=True)):
                only = sorted({int(i) for i, _ in rows} - {int(i) for i, _ in dense[q]})
                cosines = embeddings[only] @ np.asarray(vector, dtype=np.float32) if only else []
                fills[q] = {"dense": dict(zip(only, map(float, cosines), strict=True)), "lexical": bm25[q]}
        # Fuse rows first; read the documents of the kept hits only.
        results = fused_results(
            texts,
            [[Hit(0, int(i), float(x), {}) for i, x in rows] for rows in dense],
            [[Hit(0, int(i), float(x), {}) for i, x in rows] for rows in found],
            ranking,
            wanted,
            fills=fills,
        )
        with open(self._docs_path, "rb") as docs:  # type: ignore[attr-defined]
            for result in results:
                for hit in result.hits:
                    hit.doc = with_fields(self._doc(docs, hit.index), rankers=hit.doc["rankers"])  # type: ignore
        return results


def hit_key(hit: Any) -> Hashable:
    """What identifies a hit's document across rankers: its row in an index folder, its id in a Lance table."""
    return int(hit.index) if hit.index >= 0 else id_key(hit.doc.get("id"))


def fused_results(
    texts: list[str],
    dense: list[list[Any]],
    lexical: list[list[Any]],
    ranking: Ranking,
    wanted: int,
    key: Callable[[Any], Hashable] = hit_key,
    fills: list[dict[str, dict[int, float]]] | None = None,
) -> list[Any]:
    """One `SearchResult` per query from each ranker's hits (best first): the best ``wanted`` fused hits,
    each scored by the fusion and carrying ``rankers`` (ranker -> rank) in its document. ``fills``: per query,
    the true scores of candidates one ranker did not list (see `nlu_toolkit.search.fusion.fuse`)."""
    from nlu_toolkit.search.index import SearchResult

    results = []
    for qi, (text, d, x) in enumerate(zip(texts, dense, lexical, strict=True)):
        by_key = {key(h): h for h in x}
        by_key.update({key(h): h for h in d})
        fill = fills[qi] if fills else None
        fused = fuse([(key(h), h.score) for h in d], [(key(h), h.score) for h in x], ranking, fill)[:wanted]
        hits = []
        for f in fused:
            hit = by_key[f.key]
            hit.score, hit.doc = f.score, with_fields(hit.doc, rankers=f.rankers)
            hits.append(hit)
        results.append(SearchResult(qi, text, hits))
    return results


def check_lexical_part(index: Any, **ranking: Any) -> dict[str, Any]:
    """Check the search settings (`Ranking`'s fields) and, for mode lexical or hybrid on a saved index folder,
    that it has its lexical part, before any model loads. Returns the settings to pass to ``search`` (none for
    mode dense, so a dense search calls it as before)."""
    import os

    from nlu_toolkit.search.lance_index import is_lance_uri
    from nlu_toolkit.search.manifest import read_manifest

    checked = Ranking(**ranking)
    if not checked.lexical:
        return {}
    folder = isinstance(index, (str, os.PathLike)) and not is_lance_uri(index)
    if folder and not read_manifest(Path(index)).get(LEXICAL):
        raise no_lexical_part(index)
    return dataclasses.asdict(checked)


def require_lexical_part(index: Any) -> None:
    """Refuse (`UsageError` naming ``mode``) a lexical or hybrid search on the open ``index`` (a folder's or a
    Lance table's) when it has no lexical part: checked before queries are encoded (a server, before the
    request joins a batch)."""
    if getattr(index, "kind", None) == "lance":
        from nlu_toolkit.search.lance_lexical import has_fts

        if not has_fts(index.table):
            raise no_lexical_part(index.uri, " --index-backend lance")
    elif not getattr(index, "hybrid", False):
        raise no_lexical_part()
