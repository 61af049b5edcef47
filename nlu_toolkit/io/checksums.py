"""sha256 of files and open streams, read in blocks: model weights, index files, run inputs."""

from __future__ import annotations

import hashlib
import os
from typing import Any, BinaryIO

BLOCK = 1 << 20


def hash_stream(handle: BinaryIO, digest: Any = None, chunk: int = BLOCK) -> Any:
    """``digest`` (a new sha256 by default) updated with what is left to read from ``handle``."""
    digest = hashlib.sha256() if digest is None else digest
    while block := handle.read(chunk):
        digest.update(block)
    return digest


def sha256_file(path: str | os.PathLike[str], chunk: int = BLOCK) -> str:
    """The sha256 (hex) of a file's bytes."""
    with open(path, "rb") as f:
        return hash_stream(f, chunk=chunk).hexdigest()
