"""The manifest of a saved index: written with a checksum of its own, read back fully validated.

Version 2 (written since the reliability work) carries ``manifest_sha256``: the
sha256 of the manifest's canonical JSON (sorted keys, compact, ASCII) without that
key. Version 1 (written by earlier releases) has no such checksum and is still
read, provided its ``files`` checksums are present; saving it again writes version 2.
Every field a loader uses is checked for type and range; any damage raises
`IndexCorrupted` (never a ``KeyError`` or ``TypeError``).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import stat
from pathlib import Path
from typing import Any

from nlu_toolkit.errors import IndexCorrupted, InputError
from nlu_toolkit.io.checksums import hash_stream
from nlu_toolkit.search.passages import valid_settings

FORMAT = "nlu-semantic-index"
VERSION = 2
#: Index kinds. The manifest keeps them under "backend", the field's name since version 1 (an index
#: folder's format does not change with the library's keyword names).
KINDS = ("exact", "usearch")
BACKENDS = KINDS  # the old name, kept for imports
PRECISIONS = ("float32", "int8", "ubinary")  # as nlu_toolkit.tasks.embed.PRECISIONS, without importing it
LONG_MODES = ("truncate", "chunk")
MANIFEST, VECTORS, DOCS, ANN = "manifest.json", "vectors.safetensors", "docs.jsonl", "ann.usearch"
#: The BM25 files of a hybrid index (``"lexical"`` in the manifest), as `nlu_toolkit.search.lexical` names them.
LEXICAL_FILES = ("bm25.data.npy", "bm25.indices.npy", "bm25.indptr.npy", "bm25.vocab.json", "bm25.params.json")
CHECKSUM_KEY = "manifest_sha256"
MAX_LENGTH_LIMIT = 1 << 20  # tokens; far above any model's window, far below a value that overflows a tensor
_HEX64 = re.compile(r"[0-9a-f]{64}")


def manifest_checksum(manifest: dict[str, Any]) -> str:
    """The sha256 of ``manifest``'s canonical JSON, without its own checksum key."""
    body = {k: v for k, v in manifest.items() if k != CHECKSUM_KEY}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def dump_manifest(manifest: dict[str, Any]) -> str:
    """The manifest as written to disk, with its checksum added."""
    return json.dumps({**manifest, CHECKSUM_KEY: manifest_checksum(manifest)}, indent=2) + "\n"


def is_index_folder(path: Path) -> bool:
    """Whether ``path`` holds an nlu index (even a damaged one): its manifest names the format.

    Used to decide whether ``--overwrite`` may replace a folder; a folder without such a
    manifest is never replaced.
    """
    try:
        with _open_in(path, None, MANIFEST) as f:
            return FORMAT.encode() in f.read(1 << 16)
    except (OSError, IndexCorrupted):
        return False


def parse_manifest(data: bytes, where: Path) -> dict[str, Any]:
    """Decode and validate a manifest's bytes; ``where`` names it in errors."""
    try:
        manifest = json.loads(data.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
        raise IndexCorrupted(f"{where} is not valid JSON ({e})", "rebuild the index") from e
    validate(manifest, where)
    return manifest


def read_manifest(folder: Path) -> dict[str, Any]:
    """The validated manifest of index folder ``folder``."""
    folder = Path(folder)
    path = folder / MANIFEST
    if not folder.is_dir():
        raise InputError("no such index folder", "build one with: nlu index build FILE --out DIR", path=str(folder))
    if not os.path.lexists(path):
        raise IndexCorrupted(f"{folder} has no {MANIFEST}; it is not an index", "build one with nlu index build")
    try:
        with _open_in(folder, None, MANIFEST) as f:  # a link, FIFO or device is damage, never read
            data = f.read()
    except OSError as e:
        raise IndexCorrupted(f"cannot read {path} ({e.strerror})", "check its permissions") from e
    return parse_manifest(data, path)


def _bad(where: Path, what: str) -> IndexCorrupted:
    return IndexCorrupted(f"{where}: {what} (the manifest is damaged)", "rebuild the index with nlu index build")


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate(manifest: Any, where: Path) -> None:
    """Raise `IndexCorrupted` unless ``manifest`` is a complete, consistent manifest."""
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise IndexCorrupted(f"{where} is not an nlu index manifest", "rebuild the index")
    version = manifest.get("version")
    if not _int(version) or version < 1:
        raise _bad(where, f"version {version!r} is not a format version")
    if version > VERSION:
        raise IndexCorrupted(
            f"index format version {version} is newer than this nlu_toolkit understands", "upgrade nlu_toolkit"
        )
    recorded = manifest.get(CHECKSUM_KEY)
    if (recorded is not None or version >= 2) and recorded != manifest_checksum(manifest):
        raise _bad(where, "the manifest does not match its own checksum (it was edited or damaged)")
    model = manifest.get("model")
    if not isinstance(model, dict) or not isinstance(model.get("name"), str):
        raise _bad(where, "'model' must be a record with a name")
    for key in ("spec", "source", "path", "revision", "sha256"):
        if model.get(key) is not None and not isinstance(model[key], str):
            raise _bad(where, f"'model.{key}' must be text")
    checks = {
        "dimension": _int(manifest.get("dimension")) and manifest["dimension"] > 0,
        "count": _int(manifest.get("count")) and manifest["count"] >= 0,
        "precision": manifest.get("precision") in PRECISIONS,
        "backend": manifest.get("backend") in KINDS,
        "long": manifest.get("long", "truncate") in LONG_MODES,
        "max_length": manifest.get("max_length") is None
        or (_int(manifest["max_length"]) and 0 < manifest["max_length"] <= MAX_LENGTH_LIMIT),
        # Search takes the stored vectors as unit length (dot product = cosine): only True is valid.
        "normalized": manifest.get("normalized", True) is True,
        "corpus_fingerprint": manifest.get("corpus_fingerprint") is None
        or isinstance(manifest["corpus_fingerprint"], str),
        "passages": valid_settings(manifest.get("passages")),  # `nlu_toolkit.search.passages`
    }
    for key, ok in checks.items():
        if not ok:
            raise _bad(where, f"{key!r} is {manifest.get(key)!r}, not a valid value")
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise _bad(where, "the file checksums ('files') are missing, so the index cannot be verified")
    needed = {VECTORS, DOCS} | ({ANN} if manifest["backend"] == "usearch" else set())
    if manifest.get("lexical") is not None:
        if not isinstance(manifest["lexical"], dict):
            raise _bad(where, "'lexical' must be a record")
        needed |= set(LEXICAL_FILES)
    for name, digest in files.items():
        if (
            name not in (VECTORS, DOCS, ANN, *LEXICAL_FILES)
            or not isinstance(digest, str)
            or not _HEX64.fullmatch(digest)
        ):
            raise _bad(where, f"'files' has a bad entry {name!r}: {digest!r}")
    if missing := sorted(needed - set(files)):
        raise _bad(where, f"'files' has no checksum for {', '.join(missing)}")


def _open_in(folder: Path, dfd: int | None, name: str) -> Any:
    """Open an index file for reading; a link, FIFO or device is damage, never read (it could hang)."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(folder / name, flags) if dfd is None else os.open(name, flags, dir_fd=dfd)
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.ENXIO):  # a symlink (O_NOFOLLOW) or a socket/FIFO without a writer
            raise _not_regular(folder, name) from e
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise _not_regular(folder, name)
    if hasattr(os, "set_blocking"):
        os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def _not_regular(folder: Path, name: str) -> IndexCorrupted:
    return IndexCorrupted(
        f"index {folder}: {name} is not a regular file (a link, FIFO or device)",
        f"rebuild it: nlu index build FILE --out {folder} --overwrite",
    )


def sha256_of(handle: Any) -> str:
    """The sha256 of an open file's whole content; the handle is left at its start."""
    handle.seek(0)
    digest = hash_stream(handle).hexdigest()
    handle.seek(0)
    return digest


def open_snapshot(folder: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The manifest and open handles on every file it names, all from the same folder.

    Files are opened relative to the folder's descriptor, so a writer swapping a new
    index in meanwhile cannot mix old and new files; if it deleted the old folder's files
    before they were opened, the read starts again on the new folder.
    """
    dir_fd_ok = os.open in os.supports_dir_fd and hasattr(os, "O_DIRECTORY")
    for _ in range(5):
        dfd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY) if dir_fd_ok else None
        handles: dict[str, Any] = {}
        try:
            with _open_in(folder, dfd, MANIFEST) as f:
                manifest = parse_manifest(f.read(), folder / MANIFEST)
            for name in manifest["files"]:
                handles[name] = _open_in(folder, dfd, name)
            return manifest, handles
        except FileNotFoundError as e:
            for handle in handles.values():
                handle.close()
            swapped = dfd is not None and not os.path.samestat(os.fstat(dfd), os.stat(folder))
            if not swapped:
                raise IndexCorrupted(
                    f"index {folder} is missing {e.filename or 'a file'}",
                    f"rebuild it: nlu index build FILE --out {folder} --overwrite",
                ) from e
        except BaseException:
            for handle in handles.values():
                handle.close()
            raise
        finally:
            if dfd is not None:
                os.close(dfd)
    raise IndexCorrupted(f"index {folder} kept changing while it was read", "try again")
