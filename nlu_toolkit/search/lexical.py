"""The lexical part of an index folder: a BM25 index of its documents (``bm25s``, the ``hybrid`` extra).

``nlu index build --hybrid`` (``SemanticIndex.build(..., hybrid=True)``) stores it beside the vectors as
five files, each listed with its sha256 in the manifest like the others and verified on load:

    bm25.data.npy, bm25.indices.npy, bm25.indptr.npy    the BM25 score matrix (CSC), plain arrays
    bm25.vocab.json, bm25.params.json                   the vocabulary and the BM25 settings (JSON)

They are bm25s's own files (``BM25.save``), written with ``allow_pickle=False`` and read with
``allow_pickle=False``: an array file holding a pickle is refused, never unpickled. Row ``i`` of the
score matrix is row ``i`` of the index (line ``i`` of ``docs.jsonl``).

Texts are split as scikit-learn's CountVectorizer does (lower case, words of two or more letters or
digits), without English stop words and without stemming. The part records the corpus fingerprint it
was built from; after ``add`` or ``delete`` changed the documents it is rebuilt from them on the next
lexical search or save (a full re-tokenisation of the corpus: linear in its size, about a second per
100k short documents, no model involved).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from nlu_toolkit.errors import IndexCorrupted
from nlu_toolkit.extras import require
from nlu_toolkit.search.manifest import LEXICAL_FILES

PREFIX = "bm25."
NAMES = {
    "data_name": PREFIX + "data.npy",
    "indices_name": PREFIX + "indices.npy",
    "indptr_name": PREFIX + "indptr.npy",
    "vocab_name": PREFIX + "vocab.json",
    "params_name": PREFIX + "params.json",
}
#: The files of the lexical part in an index folder (the manifest's `LEXICAL_FILES`).
FILES = tuple(NAMES.values())
assert FILES == LEXICAL_FILES
STOPWORDS = "en"
METHOD = "lucene"


def bm25s() -> Any:
    """The ``bm25s`` module, or `MissingExtra` with the install hint."""
    return require("bm25s", extra="hybrid")


def tokens(texts: list[str]) -> list[list[str]]:
    """The BM25 tokens of each text (lower case, no stop words)."""
    return bm25s().tokenize(texts, stopwords=STOPWORDS, return_ids=False, show_progress=False)


class Lexical:
    """A BM25 index over the texts of an index's rows, and the corpus fingerprint it was built from."""

    def __init__(self, retriever: Any, fingerprint: str | None) -> None:
        self.retriever = retriever
        self.fingerprint = fingerprint

    @property
    def count(self) -> int:
        return int(self.retriever.scores["num_docs"])

    @classmethod
    def build(cls, texts: Iterable[str], fingerprint: str | None) -> Lexical:
        """BM25 over ``texts`` (one per row, in row order)."""
        lib = bm25s()
        listed = [str(t) for t in texts]
        retriever = lib.BM25(method=METHOD)
        if listed:
            tokenized = lib.tokenize(listed, stopwords=STOPWORDS, show_progress=False)
            retriever.index(tokenized, show_progress=False)
        else:
            retriever.scores = {
                "data": np.zeros(0, np.float32),
                "indices": np.zeros(0, np.int32),
                "indptr": np.zeros(1, np.int32),
                "num_docs": 0,
            }
            retriever.vocab_dict = {}
            retriever.unique_token_ids_set = set()
            retriever.nonoccurrence_array = None
        return cls(retriever, fingerprint)

    def search(self, queries: list[str], k: int) -> list[list[tuple[int, float]]]:
        """The best ``k`` ``(row, BM25 score)`` per query, best first; only rows sharing a term with the query
        (score above 0), so a query of stop words or unknown words finds nothing."""
        return self.search_with(queries, k, [[] for _ in queries])[0]

    def search_with(
        self, queries: list[str], k: int, rows: list[list[int]]
    ) -> tuple[list[list[tuple[int, float]]], list[dict[int, float]]]:
        """`search`, and the BM25 score (0 for no shared term) of each of ``rows`` (per query) besides: the
        scores of the other ranker's candidates, from the same pass over the index."""
        found: list[list[tuple[int, float]]] = []
        extra: list[dict[int, float]] = []
        for words, wanted in zip(tokens(queries), rows, strict=True):
            ids = self.retriever.get_tokens_ids(words) if self.count else []
            if not ids:
                found.append([])
                extra.append(dict.fromkeys(map(int, wanted), 0.0))
                continue
            scores = np.asarray(self.retriever.get_scores_from_ids(ids), dtype=np.float64)
            hit = np.flatnonzero(scores > 0)
            if len(hit) > k:
                hit = hit[np.argpartition(-scores[hit], k - 1)[:k]]
            order = hit[np.lexsort((hit, -scores[hit]))]  # best first, ties by row
            found.append([(int(i), float(scores[i])) for i in order])
            extra.append({int(i): float(scores[i]) for i in wanted})
        return found, extra

    def write(self, folder: Path) -> list[str]:
        """Write the part's files into ``folder``; returns their names."""
        self.retriever.save(str(folder), corpus=None, allow_pickle=False, show_progress=False, **NAMES)
        return list(FILES)

    @classmethod
    def read(
        cls, handles: dict[str, Any], staging: Path, *, count: int, fingerprint: str | None, where: Path
    ) -> Lexical:
        """The part from the open (already verified) ``handles`` of its files, copied to ``staging`` first;
        its row count must be ``count``."""
        folder = staging / "bm25"
        folder.mkdir(exist_ok=True)
        for name in FILES:
            handles[name].seek(0)
            with open(folder / name, "wb") as f:
                shutil.copyfileobj(handles[name], f)
        try:
            retriever = bm25s().BM25.load(str(folder), allow_pickle=False, show_progress=False, **NAMES)
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise IndexCorrupted(
                f"index {where}: cannot read its BM25 files ({str(e).splitlines()[0][:200]})",
                f"rebuild it: nlu index build FILE --out {where} --hybrid --overwrite",
            ) from e
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        lexical = cls(retriever, fingerprint)
        if lexical.count != count:
            raise IndexCorrupted(
                f"index {where}: its BM25 part holds {lexical.count} documents, the index {count}",
                f"rebuild it: nlu index build FILE --out {where} --hybrid --overwrite",
            )
        return lexical
