"""The ONNX and OpenVINO exports cached on this machine, read from the cache folder alone.

The backends in `nlu_toolkit.engine` write them; listing them needs no backend, so
``nlu models list`` (model management, below the engine) reads them here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nlu_toolkit.models.embedded import cache_dir

#: Export kind -> (sub-folder of the cache, the file that marks a finished export).
KINDS = {"onnx": ("onnx", "model.onnx"), "openvino": ("openvino", "model.xml")}


def export_root(kind: str) -> Path:
    """The cache folder of ``kind``'s exports (``onnx`` or ``openvino``)."""
    return cache_dir() / KINDS[kind][0]


def list_exports(kind: str, root: Path | None = None) -> list[dict[str, Any]]:
    """Cached exports of ``kind`` under ``root`` (default: its cache), one ``{"folder", "model", "quantize",
    "head", "size_mb"}`` each."""
    root = export_root(kind) if root is None else root
    filename = KINDS[kind][1]
    rows = []
    if root.is_dir():
        for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            if (folder / filename).is_file():
                try:
                    meta = json.loads((folder / "export.json").read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    meta = {}  # an export without readable metadata is still listed (and still removable)
                size = sum(f.stat().st_size for f in folder.iterdir() if f.is_file()) / 2**20
                row = {"folder": str(folder), "model": meta.get("model", ""), "quantize": meta.get("quantize")}
                rows.append({**row, "head": meta.get("head", "encoder"), "size_mb": size})
    return rows
