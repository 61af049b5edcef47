"""The model an index was built with: its record in the manifest, and the model loaded back from it.

Shared by the index folder (`nlu_toolkit.search.store`) and the Lance table
(`nlu_toolkit.search.lance_search`, `nlu_toolkit.search.lance_index`): both write `model_record` and load
with `embedder_for`, which refuses a model whose weights checksum differs from the recorded one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nlu_toolkit.engine.options import RunOptions
from nlu_toolkit.errors import IndexCorrupted, ModelMismatch, ModelNotAvailable
from nlu_toolkit.models.resolver import ModelInfo, weights_sha256
from nlu_toolkit.tasks.embed import Embedder


def model_record(info: ModelInfo) -> dict[str, Any]:
    """The ``model`` entry of an index's manifest (or Lance model record): what reloads and checks the model."""
    return {
        "name": info.name,
        "spec": info.spec,
        "source": info.source,
        "path": info.path,
        "revision": info.revision,
        "sha256": weights_sha256(info),
    }


def embedder_for(folder: Path, manifest: dict[str, Any], model: str | None, run: RunOptions) -> Embedder:
    """The index's model (or ``model``, which must have the same weights checksum)."""
    recorded = manifest["model"]
    spec = model if model is not None else recorded_spec(recorded)
    if model is None and recorded.get("source") == "local" and not Path(spec).is_dir():
        raise ModelNotAvailable(
            f"index {folder} was built with the model folder {spec}, which is gone",
            "give the same {=model} again, or rebuild the index",
        )
    embedder = Embedder(
        spec, normalize=True, long=manifest.get("long", "truncate"), run=run, max_length=manifest.get("max_length")
    )
    have = weights_sha256(embedder.model_info)
    if have != recorded.get("sha256"):
        raise ModelMismatch(
            f"index {folder} was built with {recorded['name']} (weights sha256 {str(recorded.get('sha256'))[:12]}), "
            f"but {embedder.model_info.name} (sha256 {have[:12]}) was given",
            "drop {=model} to use the index's own model, or rebuild the index with this model"
            if model is not None
            else "the index's model changed since the build: restore it, or rebuild the index",
        )
    if embedder.dimension != manifest["dimension"]:
        raise IndexCorrupted(
            f"index {folder}: the manifest says dimension {manifest['dimension']}, its model gives "
            f"{embedder.dimension}",
            "rebuild the index",
        )
    return embedder


def recorded_spec(recorded: dict[str, Any]) -> str:
    """The model spec to reload an index's model: embedded, its folder, or its hub id."""
    if recorded.get("source") == "embedded":
        return "embedded"
    if recorded.get("source") == "local":
        return str(recorded.get("path"))
    return str(recorded.get("name"))
