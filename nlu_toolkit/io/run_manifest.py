"""Run manifests: what produced an output, so it can be traced and reproduced.

`build_manifest` returns a plain dict: the toolkit, Python and library versions (read from the
installed distributions' metadata, nothing heavy is imported), the command and its settings, the
seed, the model (name, resolved path, a sha256 of each weight file), the inputs (path, size,
sha256) and the outputs, with the time (UTC). `write_manifest` writes one atomically.

This module sits in the io layer: it knows files, not models. Callers pass what they know
(a `ModelInfo`'s fields, the settings); checksums of weight and input files are computed here and
cached per process by path, size and modification time, so a file is hashed once.

    from nlu_toolkit.io.run_manifest import build_manifest, write_manifest
    manifest = build_manifest("my-script", settings={"lr": 1e-4}, seed=0, model="./my-model", inputs=["data.csv"])
    write_manifest(manifest, "run_manifest.json")
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import threading
import time
from collections.abc import Iterable, Mapping
from enum import Enum
from pathlib import Path
from typing import Any

from nlu_toolkit._version import __version__
from nlu_toolkit.io.checksums import sha256_file

#: The file name a run manifest takes inside a folder it describes (fine-tuned model, index).
MANIFEST_FILE = "run_manifest.json"
#: Bumped when a key changes meaning.
MANIFEST_VERSION = 1

#: The distributions whose versions are recorded, when installed.
PACKAGES = (
    "torch",
    "transformers",
    "sentence-transformers",
    "tokenizers",
    "safetensors",
    "huggingface-hub",
    "datasets",
    "accelerate",
    "peft",
    "numpy",
    "scikit-learn",
    "onnx",
    "onnxruntime",
    "onnxruntime-gpu",
    "openvino",
    "nncf",
    "optimum",
    "usearch",
)

#: Weight files: safetensors, ONNX graphs (and their external data), OpenVINO IR (.xml with its .bin).
_WEIGHT_SUFFIXES = (".safetensors", ".onnx", ".onnx_data", ".xml")

_SHA: dict[tuple[str, int, int], str] = {}
_SHA_LOCK = threading.Lock()


def package_versions(names: Iterable[str] = PACKAGES) -> dict[str, str]:
    """``{distribution: version}`` for those of ``names`` that are installed (metadata only, no imports)."""
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The sha256 of a file's bytes, hashed once per process for a given path, size and modification time."""
    real = os.path.realpath(path)
    stat = os.stat(real)
    key = (real, stat.st_size, stat.st_mtime_ns)
    with _SHA_LOCK:
        known = _SHA.get(key)
    if known is not None:
        return known
    digest = sha256_file(real)
    with _SHA_LOCK:
        _SHA[key] = digest
    return _SHA[key]


def weight_files(folder: str | os.PathLike[str]) -> list[Path]:
    """The weight files under ``folder``, sorted: safetensors, ONNX, OpenVINO ``.xml`` and the ``.bin`` beside it."""
    root = Path(folder)
    if not root.is_dir():
        return []
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "checkpoints")
        names = set(filenames)
        for name in sorted(filenames):
            openvino_bin = name.endswith(".bin") and name[: -len(".bin")] + ".xml" in names
            if name.endswith(_WEIGHT_SUFFIXES) or openvino_bin:
                found.append(Path(dirpath) / name)
    return found


def weight_checksums(folder: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """``[{"file", "size", "sha256"}]`` for each of `weight_files` (``file`` relative to ``folder``)."""
    root = Path(folder)
    return [
        {"file": f.relative_to(root).as_posix(), "size": f.stat().st_size, "sha256": file_sha256(f)}
        for f in weight_files(root)
    ]


def describe_input(source: str | os.PathLike[str] | None, data: bytes | None = None) -> dict[str, Any]:
    """One input: ``{"path", "size", "sha256"}`` for a file; stdin (``-`` or None) is ``{"path": "-"}``
    with the sha256 of ``data`` (the bytes read) when given, else ``"sha256": "stdin"``; a folder gets
    one sha256 over its files' names and hashes."""
    if source is None or str(source) == "-":
        if data is None:
            return {"path": "-", "sha256": "stdin"}
        return {"path": "-", "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    path = Path(source)
    record: dict[str, Any] = {"path": str(source)}
    try:
        if path.is_file():
            record |= {"resolved": str(path.resolve()), "size": path.stat().st_size, "sha256": file_sha256(path)}
        elif path.is_dir():
            digest = hashlib.sha256()
            size = 0
            for file in sorted(p for p in path.rglob("*") if p.is_file()):
                digest.update(f"{file.relative_to(path).as_posix()}\0{file_sha256(file)}\n".encode())
                size += file.stat().st_size
            record |= {"resolved": str(path.resolve()), "kind": "folder", "size": size, "sha256": digest.hexdigest()}
        else:
            record["missing"] = True
    except OSError as e:  # unreadable: say so rather than fail the run that already succeeded
        record["error"] = f"{type(e).__name__}: {e.strerror or e}"
    return record


def describe_model(model: str | os.PathLike[str] | Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The model record: the fields given (``name``, ``path``, ``source``, ``revision``, ``sha256``...)
    and, when ``path`` is a folder, ``weights``: a `weight_checksums` list."""
    if model is None:
        return None
    record = dict(model) if isinstance(model, Mapping) else {"name": str(model), "path": str(model)}
    record = {k: _plain(v) for k, v in record.items() if v is not None}
    path = record.get("path")
    if path and Path(path).is_dir():
        record["path"] = str(Path(path).resolve())
        try:
            record["weights"] = weight_checksums(path)
        except OSError as e:
            record["weights_error"] = f"{type(e).__name__}: {e.strerror or e}"
    return record


def build_manifest(
    command: str,
    *,
    settings: Mapping[str, Any] | None = None,
    seed: int | None = None,
    model: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    inputs: Iterable[str | os.PathLike[str] | Mapping[str, Any] | None] = (),
    outputs: Iterable[str | os.PathLike[str] | None] = (),
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A run manifest (a JSON-ready dict) for ``command``.

    Args:
        command: what ran, e.g. ``"nlu classify"`` or ``"finetune"``.
        settings: the options, as given (enums and paths become strings).
        seed: the random seed, if the run has one.
        model: a model folder or id, or a mapping of its fields (``name``, ``path``, ``source``,
            ``revision``, ``sha256``); see `describe_model`.
        inputs: input paths (``-`` or None for stdin), or records already made by `describe_input`.
        outputs: the paths written (None or ``-``: stdout).
        extra: further keys, added at the top level.
    """
    manifest: dict[str, Any] = {
        "manifest_version": MANIFEST_VERSION,
        "command": command,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "nlu_toolkit": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": package_versions(),
        "settings": {str(k): _plain(v) for k, v in (settings or {}).items()},
        "seed": seed,
        "model": describe_model(model),
        "inputs": [dict(i) if isinstance(i, Mapping) else describe_input(i) for i in inputs],
        "outputs": ["-" if o is None or str(o) == "-" else str(o) for o in outputs],
    }
    manifest.update(extra or {})
    return manifest


def write_manifest(manifest: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write ``manifest`` as JSON to ``path`` atomically (a temp file renamed into place)."""
    from nlu_toolkit.io.writers import atomic_output

    with atomic_output(path, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2, ensure_ascii=False, default=str)
        f.write("\n")
    return Path(path)


def _plain(value: Any) -> Any:
    """A JSON-ready value: enums by value, paths as strings, containers walked."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def folder_manifest(
    folder: str | os.PathLike[str],
    run_info: Mapping[str, Any] | None,
    *,
    command: str,
    model: Mapping[str, Any] | None,
    keep: int = 20,
) -> dict[str, Any]:
    """The manifest of a run that (re)writes the artefact ``folder`` (an index): `build_manifest` with
    ``run_info`` (``command``, ``settings``, ``seed``, ``inputs``; ``command`` defaults to the one given),
    and under ``previous_runs`` the manifests of the runs that wrote it before (the last ``keep``)."""
    info = {"command": command, **(run_info or {})}
    manifest = build_manifest(**info, model=model, outputs=[folder])
    try:
        old = json.loads((Path(folder) / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        old = None
    if isinstance(old, dict):
        previous = old.pop("previous_runs", None)
        manifest["previous_runs"] = [*(previous if isinstance(previous, list) else []), old][-keep:]
    return manifest
