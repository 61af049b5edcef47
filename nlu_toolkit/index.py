"""A persisted semantic index: vectors, documents and a manifest in one folder.

Layout of an index folder::

    manifest.json          model name and weights checksum, dimension, normalisation,
                           precision, backend, count, corpus fingerprint, file checksums,
                           and its own checksum (see `nlu_toolkit.index_manifest`)
    vectors.safetensors    "embeddings" float32 (n, dim), "offsets" int64 (n + 1,) into
                           docs.jsonl, and "codes"/"ranges" for int8 or ubinary precision
    docs.jsonl             one document per line: {"id", "text", ...passthrough}
    ann.usearch            the approximate index, with backend "usearch"

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
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nlu_toolkit import __version__
from nlu_toolkit.errors import IndexCorrupted, InputError, ModelMismatch, UsageError
from nlu_toolkit.index_manifest import (
    ANN,
    BACKENDS,
    DOCS,
    FORMAT,
    MANIFEST,
    VECTORS,
    VERSION,
    dump_manifest,
    is_index_folder,
    open_snapshot,
    read_manifest,
    sha256_of,
)
from nlu_toolkit.io.guard import check_output_folder, output_error
from nlu_toolkit.io.lock import DEFAULT_LOCK_TIMEOUT, artefact_lock
from nlu_toolkit.io.readers import check_text
from nlu_toolkit.io.swap import replace_folder
from nlu_toolkit.io.writers import dumps
from nlu_toolkit.resolver import ModelInfo, weights_sha256
from nlu_toolkit.tasks.common import Inputs
from nlu_toolkit.tasks.embed import PRECISIONS, Embedder

__all__ = ["FORMAT", "VERSION", "Hit", "SearchResult", "SemanticIndex", "is_index_folder", "read_manifest"]


@dataclass
class Hit:
    rank: int
    index: int  # row in the index
    score: float
    doc: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "id": self.doc.get("id"),
            "score": self.score,
            **{k: v for k, v in self.doc.items() if k != "id"},
        }


@dataclass
class SearchResult:
    """``{"query_index", "query", "hits": [{"rank", "id", "score", "text", ...passthrough}]}``."""

    query_index: int
    query: str
    hits: list[Hit]

    def to_dict(self) -> dict[str, Any]:
        return {"query_index": self.query_index, "query": self.query, "hits": [h.to_dict() for h in self.hits]}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _model_record(info: ModelInfo) -> dict[str, Any]:
    return {
        "name": info.name,
        "spec": info.spec,
        "source": info.source,
        "path": info.path,
        "revision": info.revision,
        "sha256": weights_sha256(info),
    }


class SemanticIndex:
    """Vectors of a corpus plus its documents; exact, quantized or approximate search.

    Build one with `build` (or `load` a saved one), grow it with `add`, persist it
    with `save`, query it with `search`. Only queries are encoded at search time.
    """

    def __init__(self, embedder: Embedder, *, precision: str = "float32", backend: str = "exact") -> None:
        if precision not in PRECISIONS:
            raise UsageError(f"unknown --precision {precision!r}", f"use one of: {', '.join(PRECISIONS)}")
        if backend not in BACKENDS:
            raise UsageError(f"unknown --index-backend {backend!r}", f"use one of: {', '.join(BACKENDS)}")
        if not embedder.normalize:
            raise UsageError("an index needs normalised vectors", "create the Embedder with normalize=True")
        self.embedder = embedder
        self.precision = precision
        self.backend = backend
        self.embeddings = np.zeros((0, embedder.dimension), dtype=np.float32)
        self.ranges: np.ndarray | None = None
        self.codes: np.ndarray | None = None
        self._ann: Any = None
        # Documents live in a JSONL file; offsets[i]:offsets[i+1] is document i's line.
        self._staging = Path(tempfile.mkdtemp(prefix="nlu-index-"))
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

    # -- building -----------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        inputs: Inputs,
        model: str | None = None,
        *,
        precision: str = "float32",
        backend: str = "exact",
        **options: Any,
    ) -> SemanticIndex:
        """Encode ``inputs`` (texts or records with ``text``) into a new index.

        ``options`` go to `Embedder` (batch_size, device, long, max_length).
        """
        index = cls(Embedder(model, normalize=True, **options), precision=precision, backend=backend)
        index.add(inputs)
        return index

    def add(self, inputs: Inputs) -> int:
        """Encode and append documents; returns how many were added.

        Texts are written to disk window by window, so only vectors stay in memory.
        """
        parts = [self.embeddings]
        ends = [self.offsets]
        added = 0
        with open(self._docs_path, "ab") as f:
            position = f.tell()
            # Texts without ids continue the index's numbering rather than restarting at 0.
            for window, vectors, truncated in self.embedder.embed(inputs, id_start=len(self)):
                lengths = []
                for record, cut in zip(window, truncated, strict=True):
                    doc = dict(record)
                    if cut:
                        doc["truncated"] = True
                    line = (dumps(doc) + "\n").encode("utf-8")
                    f.write(line)
                    self.fingerprint.update(line)
                    lengths.append(len(line))
                    added += 1
                ends.append(position + np.cumsum(lengths, dtype=np.int64))
                position += sum(lengths)
                parts.append(vectors)
        self.embeddings = np.concatenate(parts).astype(np.float32, copy=False)
        self.offsets = np.concatenate(ends)
        self._refresh_codes(new=added)
        return added

    def _refresh_codes(self, new: int) -> None:
        if self.precision != "float32" and new:
            from nlu_toolkit.core.retrieval import quantize

            # int8 ranges are calibrated on the first documents and reused by later additions,
            # so old and new codes stay comparable.
            fresh, self.ranges = quantize(self.embeddings[len(self) - new :], self.precision, self.ranges)
            self.codes = fresh if self.codes is None else np.concatenate([self.codes, fresh])
        if self.backend == "usearch":
            from nlu_toolkit.ann import AnnIndex

            if self._ann is None:
                self._ann = AnnIndex(self.embedder.dimension)
            if new:
                self._ann.add(self.embeddings[len(self) - new :], start_key=len(self) - new)

    # -- searching ----------------------------------------------------------------------

    def search_embeddings(self, queries: np.ndarray, *, top_k: int = 10) -> list[list[tuple[int, float]]]:
        """Top-k ``(row, cosine score)`` per query vector; queries are ``(q, dim)`` float32."""
        from nlu_toolkit.core import retrieval

        if len(self) == 0:
            return [[] for _ in range(len(queries))]
        top_k = min(top_k, len(self))
        if self.backend == "usearch":
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
    ) -> list[SearchResult]:
        """Search with query texts: one `SearchResult` per query, hits by descending score.

        With ``rerank`` (a cross-encoder hub id or folder), the best ``rerank_top``
        candidates (default ``max(4 * top_k, 20)``) are re-scored by the cross-encoder;
        each hit then carries ``score`` (cross-encoder) and ``retrieval_score`` (cosine).
        """
        if top_k < 1:
            raise UsageError(f"--top-k must be at least 1, got {top_k}", "pass a positive --top-k")
        texts = [queries] if isinstance(queries, str) else list(queries)
        if not texts:
            raise InputError("no queries given", "pass --search TEXT or --queries FILE")
        for i, text in enumerate(texts):
            if not isinstance(text, str) or not text.strip():
                raise UsageError(
                    f"query {i + 1} is empty" if len(texts) > 1 else "the query is empty",
                    "give a query with some words, e.g. --search 'refund policy'",
                )
            check_text(text, None, what=f"query {i + 1}" if len(texts) > 1 else "the query")
        vectors, _ = self.embedder.encode(texts)
        pool = top_k if rerank is None else max(rerank_top or 4 * top_k, top_k, 20)
        found = self.search_embeddings(vectors, top_k=pool)
        results = []
        with open(self._docs_path, "rb") as docs:
            for qi, (query, row_hits) in enumerate(zip(texts, found, strict=True)):
                hits = [Hit(0, int(i), float(s), self._doc(docs, int(i))) for i, s in row_hits]
                results.append(SearchResult(qi, query, hits))
        if rerank is not None:
            _rerank(results, rerank, device=self.model_info.device)
        for result in results:
            result.hits = result.hits[:top_k]
            for rank, hit in enumerate(result.hits, 1):
                hit.rank = rank
        return results

    def _doc(self, f: Any, i: int) -> dict[str, Any]:
        f.seek(int(self.offsets[i]))
        return json.loads(f.read(int(self.offsets[i + 1] - self.offsets[i])))

    def documents(self) -> Iterable[dict[str, Any]]:
        """Every document, in index order."""
        with open(self._docs_path, encoding="utf-8") as f:
            for line in f:
                yield json.loads(line)

    # -- persistence --------------------------------------------------------------------

    def save(
        self,
        path: str | os.PathLike[str],
        *,
        overwrite: bool = False,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    ) -> Path:
        """Write the index to folder ``path`` atomically (a temp folder swapped into place).

        An existing index at ``path`` is replaced only with ``overwrite=True``; an existing
        file, or a non-empty folder that is not an index, is never replaced. The save
        holds the index's lock (see `nlu_toolkit.io.lock`), waiting up to ``lock_timeout``
        seconds for another writer.

        Raises:
            OutputError: ``path`` must not or cannot be written (permission, full disk).
            ArtefactBusy: another process still holds the lock after ``lock_timeout``.
        """
        target = Path(path)
        real = Path(os.path.realpath(os.path.abspath(target)))

        def check() -> None:
            check_output_folder(target, kind="index", is_kind=is_index_folder, overwrite=overwrite, what="the folder")

        check()
        try:
            real.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise output_error(e, target, doing="create the index's folder") from e
        with artefact_lock(real, timeout=lock_timeout):
            check()  # again under the lock: another writer may have saved meanwhile
            try:
                tmp = Path(tempfile.mkdtemp(prefix=f".{real.name}.", suffix=".tmp", dir=real.parent))
            except OSError as e:
                raise output_error(e, target, doing="save the index") from e
            try:
                self._write(tmp)
                replace_folder(tmp, real)
            except OSError as e:
                raise output_error(e, target, doing="save the index") from e
            finally:
                if tmp.exists():
                    shutil.rmtree(tmp, ignore_errors=True)
        return target

    def _write(self, tmp: Path) -> None:
        from safetensors.numpy import save_file

        tensors = {"embeddings": self.embeddings, "offsets": self.offsets}
        if self.codes is not None:
            tensors["codes"] = self.codes
        if self.ranges is not None:
            tensors["ranges"] = self.ranges.astype(np.float32)
        save_file(tensors, str(tmp / VECTORS))
        shutil.copyfile(self._docs_path, tmp / DOCS)
        files = [VECTORS, DOCS]
        if self._ann is not None:
            self._ann.save(tmp / ANN)
            files.append(ANN)
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "model": _model_record(self.model_info),
            "dimension": self.embedder.dimension,
            "normalized": True,
            "precision": self.precision,
            "backend": self.backend,
            "count": len(self),
            "max_length": self.embedder.limit,
            "long": self.embedder.long,
            "corpus_fingerprint": self.fingerprint.hexdigest(),
            "files": {name: _sha256(tmp / name) for name in files},
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "nlu_toolkit": __version__,
        }
        text = dump_manifest(manifest)
        (tmp / MANIFEST).write_text(text, encoding="utf-8")
        self.manifest = json.loads(text)
        # mkdtemp makes the folder 0700 and safetensors writes 0600: give the index the modes of plain files.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)
        for file in tmp.iterdir():
            os.chmod(file, 0o666 & ~umask)

    @classmethod
    def update(
        cls,
        path: str | os.PathLike[str],
        inputs: Inputs,
        *,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        **options: Any,
    ) -> int:
        """Add ``inputs`` to the saved index at ``path`` under its lock (load, add, save); returns how many.

        Concurrent updates of one index, from threads or processes, wait for each other, so none
        is lost. ``options`` go to `load`.

        Raises:
            ArtefactBusy: another writer still holds the lock after ``lock_timeout`` seconds.
        """
        read_manifest(Path(path))  # a missing or foreign folder fails before the lock
        with artefact_lock(path, timeout=lock_timeout), cls.load(path, **options) as index:
            added = index.add(inputs)
            index.save(path, overwrite=True, lock_timeout=lock_timeout)
        return added

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        model: str | None = None,
        *,
        verify: bool = True,
        **options: Any,
    ) -> SemanticIndex:
        """Load a saved index; its model is loaded too (only queries get encoded).

        The files are opened together, so an index replaced while it is being loaded is
        read whole, old or new, never a mix.

        Args:
            path: the index folder.
            model: optional; must be the model the index was built with.
            verify: check every file against the manifest's sha256 (a corrupted file
                raises `IndexCorrupted`).
            options: `Embedder` options (batch_size, device).

        Raises:
            IndexCorrupted: missing files, a bad manifest, checksum or shape mismatch.
            ModelMismatch: ``model`` (or the model folder named in the manifest) is not
                the model the index was built with.
        """
        folder = Path(path)
        read_manifest(folder)  # the clear errors: no such folder, not an index, bad manifest
        manifest, handles = open_snapshot(folder)
        try:
            if verify:
                for name, digest in manifest["files"].items():
                    if sha256_of(handles[name]) != digest:
                        raise IndexCorrupted(
                            f"index {folder}: {name} does not match its checksum (the file is corrupted)",
                            f"rebuild it: nlu index build FILE --out {folder} --overwrite",
                        )
            embedder = _embedder_for(folder, manifest, model, options)
            index = cls(embedder, precision=manifest["precision"], backend=manifest["backend"])
            try:
                index._read(folder, manifest, handles)
            except BaseException:
                index.close()
                raise
        finally:
            for handle in handles.values():
                handle.close()
        return index

    def _read(self, folder: Path, manifest: dict[str, Any], handles: dict[str, Any]) -> None:
        from safetensors import SafetensorError
        from safetensors.numpy import load

        try:
            tensors = load(handles[VECTORS].read())
        except (SafetensorError, OSError, ValueError) as e:
            raise IndexCorrupted(f"index {folder}: cannot read {VECTORS} ({e})", "rebuild the index") from e
        n, dim = manifest["count"], manifest["dimension"]
        embeddings, offsets = tensors.get("embeddings"), tensors.get("offsets")
        codes, ranges = tensors.get("codes"), tensors.get("ranges")
        problems = [
            embeddings is None or embeddings.shape != (n, dim) or embeddings.dtype != np.float32,
            offsets is None or offsets.shape != (n + 1,) or offsets.dtype.kind not in "iu",
            self.precision != "float32" and n > 0 and (codes is None or len(codes) != n),
            self.precision == "int8" and n > 0 and ranges is None,
        ]
        if any(problems):
            raise IndexCorrupted(
                f"index {folder}: {VECTORS} does not hold the ({n}, {dim}) vectors and offsets the manifest names",
                "rebuild the index",
            )
        assert offsets is not None
        if offsets[0] != 0 or (n and bool(np.any(np.diff(offsets) <= 0))):
            raise IndexCorrupted(f"index {folder}: {DOCS} offsets are not increasing", "rebuild the index")
        self.embeddings, self.offsets, self.codes, self.ranges = embeddings, offsets.astype(np.int64), codes, ranges
        with open(self._docs_path, "wb") as f:
            shutil.copyfileobj(handles[DOCS], f)
        if self._docs_path.stat().st_size != int(self.offsets[-1]):
            raise IndexCorrupted(f"index {folder}: {DOCS} does not match its offsets", "rebuild the index")
        with open(self._docs_path, "rb") as f:
            for line in f:
                self.fingerprint.update(line)
        if manifest["backend"] == "usearch":
            from nlu_toolkit.ann import AnnIndex

            copy = self._staging / ANN
            with open(copy, "wb") as f:
                shutil.copyfileobj(handles[ANN], f)
            self._ann = AnnIndex.load(copy, dim)
        self.manifest = manifest


def _embedder_for(folder: Path, manifest: dict[str, Any], model: str | None, options: dict[str, Any]) -> Embedder:
    """The index's model (or ``model``, which must have the same weights checksum)."""
    recorded = manifest["model"]
    spec = model if model is not None else _recorded_spec(recorded)
    embedder = Embedder(
        spec,
        normalize=True,
        long=manifest.get("long", "truncate"),
        max_length=manifest.get("max_length"),
        **options,
    )
    have = weights_sha256(embedder.model_info)
    if have != recorded.get("sha256"):
        raise ModelMismatch(
            f"index {folder} was built with {recorded['name']} (weights sha256 {str(recorded.get('sha256'))[:12]}), "
            f"but {embedder.model_info.name} (sha256 {have[:12]}) was given",
            "drop --model to use the index's own model, or rebuild the index with this model",
        )
    if embedder.dimension != manifest["dimension"]:
        raise IndexCorrupted(
            f"index {folder}: the manifest says dimension {manifest['dimension']}, its model gives "
            f"{embedder.dimension}",
            "rebuild the index",
        )
    return embedder


def _recorded_spec(recorded: dict[str, Any]) -> str:
    """The model spec to reload an index's model: embedded, its folder, or its hub id."""
    if recorded.get("source") == "embedded":
        return "embedded"
    if recorded.get("source") == "local":
        return str(recorded.get("path"))
    return str(recorded.get("name"))


def _rerank(results: list[SearchResult], model: str, *, device: str) -> None:
    """Re-score each result's hits with a cross-encoder and sort them by its score."""
    from nlu_toolkit.resolver import load_model

    loaded = load_model(model, "cross-encoder", device=device)
    pairs = [(r.query, str(h.doc.get("text", ""))) for r in results for h in r.hits]
    if not pairs:
        return
    scores = np.asarray(loaded.model.predict(pairs, show_progress_bar=False), dtype=np.float64).reshape(len(pairs), -1)
    it = iter(scores[:, -1])
    for r in results:
        for h in r.hits:
            h.doc = {**h.doc, "retrieval_score": h.score}
            h.score = float(next(it))
        r.hits.sort(key=lambda h: -h.score)
