"""Saving and loading a `SemanticIndex` folder: checked, locked, swapped into place, verified.

Split from ``index.py`` so that file keeps to searching and building; `SemanticIndex`
inherits these methods from `IndexStore`.

- ``save`` refuses a file, a non-empty folder that is not an index, and an existing index
  without ``overwrite`` (`nlu_toolkit.io.guard`); holds the index's lock
  (`nlu_toolkit.io.lock`); writes a temp folder beside the target and swaps it into place
  (`nlu_toolkit.io.swap`); any ``OSError`` becomes `OutputError` and the temp folder is
  removed on any exception, SIGTERM's included.
- ``load`` validates the manifest (`nlu_toolkit.search.manifest`), opens every file of one
  snapshot and verifies every checksum before using them.
- ``update`` is the locked load-add-save for concurrent writers, ``delete_from`` the locked
  load-delete-save.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nlu_toolkit._version import __version__
from nlu_toolkit.engine.options import RunFields, RunOptions
from nlu_toolkit.errors import IndexCorrupted
from nlu_toolkit.io.checksums import sha256_file
from nlu_toolkit.io.guard import check_output_folder, output_error
from nlu_toolkit.io.lock import DEFAULT_LOCK_TIMEOUT, artefact_lock
from nlu_toolkit.io.run_manifest import MANIFEST_FILE as RUN_MANIFEST
from nlu_toolkit.io.run_manifest import folder_manifest, write_manifest
from nlu_toolkit.io.swap import replace_folder
from nlu_toolkit.io.writers import disk_full
from nlu_toolkit.search.ids import AddResult, DeleteResult
from nlu_toolkit.search.lexical import FILES as LEXICAL_FILES
from nlu_toolkit.search.manifest import (
    ANN,
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
from nlu_toolkit.search.model_record import embedder_for, model_record
from nlu_toolkit.search.passages import KEY as PASSAGES
from nlu_toolkit.search.passages import settings_of
from nlu_toolkit.tasks.common import Inputs

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing.Unpack is Python 3.11+

    from nlu_toolkit.search.index import SemanticIndex

#: The old private names, kept importable.
_model_record, _embedder_for = model_record, embedder_for

#: The entries of an index folder; anything else in it belongs to the user. ``run_manifest.json``: what wrote it.
INDEX_FILES = frozenset({MANIFEST, VECTORS, DOCS, ANN, RUN_MANIFEST, *LEXICAL_FILES})


class IndexStore:
    """The persistence half of `SemanticIndex`."""

    def save(
        self,
        path: str | os.PathLike[str],
        *,
        overwrite: bool = False,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        run_info: dict[str, Any] | None = None,
    ) -> Path:
        """Write the index to folder ``path`` atomically (a temp folder swapped into place).

        Beside its manifest goes ``run_manifest.json`` (`nlu_toolkit.io.run_manifest.folder_manifest`):
        versions, the model's weights checksums and, from ``run_info``, the command, settings and inputs.

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
            refuse_foreign_entries(real)

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
                write_manifest(
                    folder_manifest(real, run_info, command="SemanticIndex.save", model=self.manifest["model"]),
                    tmp / RUN_MANIFEST,
                )
                os.chmod(tmp / RUN_MANIFEST, os.stat(tmp / MANIFEST).st_mode)
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
        try:
            save_file(tensors, str(tmp / VECTORS))
        except Exception as e:  # safetensors reports a full disk as SafetensorError, not OSError
            if type(e).__name__ == "SafetensorError":
                raise (disk_full(e) or OSError(errno.EIO, str(e))) from e
            raise
        shutil.copyfile(self._docs_path, tmp / DOCS)
        files = [VECTORS, DOCS]
        if self._ann is not None:
            self._ann.save(tmp / ANN)
            files.append(ANN)
        lexical_files, lexical = self._write_lexical(tmp)  # the BM25 part of a hybrid index
        files += lexical_files
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "model": model_record(self.model_info),
            "dimension": self.embedder.dimension,
            "normalized": True,
            "precision": self.precision,
            "backend": self.kind,  # the index kind, under the manifest's original key
            "count": len(self),
            "max_length": self.embedder.limit,
            "long": self.embedder.long,
            "corpus_fingerprint": self.fingerprint.hexdigest(),
            "files": {name: sha256_file(tmp / name) for name in files},
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "nlu_toolkit": __version__,
            **({"lexical": lexical} if lexical else {}),
            **({PASSAGES: self.passages.to_dict()} if self.passages is not None else {}),
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
    @contextmanager
    def _locked(
        cls, path: str | os.PathLike[str], lock_timeout: float, model: str | None, verify: bool, run: RunOptions
    ) -> Iterator[Any]:
        """The saved index at ``path``, loaded under its lock (the load-edit-save of `update` and `delete_from`)."""
        read_manifest(Path(path))  # a missing or foreign folder fails before the lock
        with artefact_lock(path, timeout=lock_timeout), cls.load(path, model, verify=verify, run=run) as index:
            yield index

    @classmethod
    def update(
        cls,
        path: str | os.PathLike[str],
        inputs: Inputs,
        *,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        model: str | None = None,
        verify: bool = True,
        run: RunOptions | None = None,
        run_info: dict[str, Any] | None = None,
        **options: Unpack[RunFields],
    ) -> AddResult:
        """Add ``inputs`` to the saved index at ``path`` under its lock (load, add, save).

        A document whose id is in the index already replaces it (see `SemanticIndex.add`); the
        `AddResult` counts the added and replaced ids. Concurrent updates of one index, from threads or
        processes, wait for each other, so none is lost. ``model``, ``verify`` and ``run`` (or its fields
        as keywords) go to `load`, ``run_info`` to `save` (the run manifest's command, settings, inputs).

        Raises:
            ArtefactBusy: another writer still holds the lock after ``lock_timeout`` seconds.
        """
        with cls._locked(path, lock_timeout, model, verify, RunOptions.merge(run, **options)) as index:
            result = index.add(inputs)
            index.save(path, overwrite=True, lock_timeout=lock_timeout, run_info=run_info)
        return result

    @classmethod
    def delete_from(
        cls,
        path: str | os.PathLike[str],
        ids: Iterable[Any] | str | int,
        *,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        model: str | None = None,
        verify: bool = True,
        run: RunOptions | None = None,
        run_info: dict[str, Any] | None = None,
        **options: Unpack[RunFields],
    ) -> DeleteResult:
        """Delete the documents with ``ids`` from the saved index at ``path`` under its lock (load, delete, save).

        Ids not in the index are counted in the result's ``not_found``, not raised; when none is
        found the index is left as it was (not saved again). Locked as `update` is.
        """
        with cls._locked(path, lock_timeout, model, verify, RunOptions.merge(run, **options)) as index:
            result = index.delete(ids)
            if result.deleted:
                index.save(path, overwrite=True, lock_timeout=lock_timeout, run_info=run_info)
        return result

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        model: str | None = None,
        *,
        verify: bool = True,
        run: RunOptions | None = None,
        **options: Unpack[RunFields],
    ) -> SemanticIndex:
        """Load a saved index; its model is loaded too (only queries get encoded).

        The files are opened together, so an index replaced while it is being loaded is
        read whole, old or new, never a mix.

        Args:
            path: the index folder.
            model: optional; must be the model the index was built with.
            verify: check every file against the manifest's sha256 (a corrupted file
                raises `IndexCorrupted`).
            run: how the model runs (`RunOptions`); its fields may also be given as keywords. The
                token limit is the index's own (its manifest's), whatever ``max_length`` says.

        Raises:
            IndexCorrupted: missing files, a bad manifest, checksum or shape mismatch.
            ModelMismatch: ``model`` (or the model folder named in the manifest) is not
                the model the index was built with.
        """
        run = RunOptions.merge(run, **options)
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
            embedder = embedder_for(folder, manifest, model, run)
            index = cls(embedder, precision=manifest["precision"], kind=manifest["backend"])
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
            from nlu_toolkit.search.ann import AnnIndex

            copy = self._staging / ANN
            with open(copy, "wb") as f:
                shutil.copyfileobj(handles[ANN], f)
            self._ann = AnnIndex.load(copy, dim)
        self._read_lexical(folder, manifest, handles)
        self.passages = settings_of(manifest, folder)
        self.manifest = manifest


def refuse_foreign_entries(folder: Path) -> None:
    """Refuse to replace an index folder that also holds the user's own files.

    A save swaps the whole folder, so anything else inside it (notes, a nested folder) would
    be deleted with the old index.
    """
    from nlu_toolkit.errors import OutputError

    if not folder.is_dir() or not is_index_folder(folder):
        return
    foreign = sorted(p.name for p in folder.iterdir() if p.name not in INDEX_FILES)
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise OutputError(
            f"the index folder also holds {shown}, which replacing the index would delete",
            "move them out of the index folder first",
            path=str(folder),
        )
