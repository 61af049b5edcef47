"""The backend ``nlu bench`` chose, stored per machine, task and model, and read by ``--backend auto``.

`nlu_toolkit.bench` measures and calls `store`; `engine.runtime.resolve_auto` calls `recommended`.
Kept here, below the tasks, so that choosing a forward pass never imports the code that benchmarks
whole tasks.
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any


def machine() -> dict[str, Any]:
    """What the figures depend on: CPU model, cores and library versions."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version()}
    try:
        from importlib.metadata import version

        info["torch"] = version("torch")
        info["onnxruntime"] = version("onnxruntime")
    except Exception:  # onnxruntime is optional
        info.setdefault("onnxruntime", None)
    return info


def _machine_key(m: dict[str, Any]) -> str:
    return f"{m['cpu']}|{m['cores']} cores|torch {m.get('torch')}|onnxruntime {m.get('onnxruntime')}"


def results_path() -> Path:
    from nlu_toolkit.models.embedded import cache_dir

    return cache_dir() / "bench.json"


def _read_store() -> dict[str, Any]:
    try:
        data = json.loads(results_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def store(task: str, model_sha: str, entry: dict[str, Any], *, on: dict[str, Any] | None = None) -> Path:
    """Remember ``entry`` (recommended, usable, reason, ...) for ``task`` and this model on this machine."""
    from nlu_toolkit.io.writers import atomic_output

    data = _read_store()
    data.setdefault(_machine_key(on or machine()), {})[f"{task}:{model_sha}"] = entry
    path = results_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path, encoding="utf-8") as f:
        f.write(json.dumps(data, indent=2))
    return path


def measured(task: str) -> bool:
    """Whether ``nlu bench`` stored a choice for ``task`` (any model) on this machine: when not, ``auto`` needs
    no model checksum (a read of every weights file) to know that torch runs."""
    prefix = f"{task}:"
    return any(key.startswith(prefix) for key in _read_store().get(_machine_key(machine()), {}))


def recommended(task: str, model_sha: str, *, quantize: str | None = None) -> str | None:
    """The backend ``nlu bench`` recommended for ``task`` and this model on this machine, or None.

    With ``quantize="int8"``, ``onnx-int8`` if it was usable, else None.
    """
    entry = _read_store().get(_machine_key(machine()), {}).get(f"{task}:{model_sha}")
    if not entry:
        return None
    if quantize == "int8":
        return "onnx-int8" if "onnx-int8" in entry.get("usable", []) else None
    return entry.get("recommended")
