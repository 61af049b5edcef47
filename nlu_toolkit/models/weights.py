"""Safetensors only: which weights files a model folder loads, and a refusal of pickle weights.

Pickle files (``pytorch_model.bin``, ``*.pt``, ``*.pth``, ``*.pkl``, ``*.ckpt``) can run code
when loaded, so no loader of the toolkit ever reads one. `require_safetensors` inspects a
folder *before* anything is loaded:

- the folders that hold weights are the model folder itself and, for a sentence-transformers
  model, every module folder its ``modules.json`` names (``2_Dense/``, ``0_Transformer/``, ...);
- a folder with ``*.safetensors`` (one file, or the shards a ``model.safetensors.index.json``
  lists) loads from those;
- a folder with only pickle weights raises `UnsafeModel` (exit 2) with a hint to convert them;
- a model with no weights at all raises `ModelNotAvailable` ("no weights");
- a PEFT adapter folder (``adapter_config.json``) is checked the same way, and so is its base
  model when that is a local folder.

`weights_files` returns the safetensors files that are loaded, sorted; the weights checksum
(`resolver.weights_sha256`) hashes exactly those.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from nlu_toolkit.errors import ModelNotAvailable, UnsafeModel

#: Suffixes of pickle-based weights files, never loaded.
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
SHARD_INDEX = "model.safetensors.index.json"
#: Pickles a Trainer writes beside the weights (arguments, optimizer, scheduler, RNG states): not model weights.
TRAINING_STATE = ("training_args.bin", "optimizer.pt", "scheduler.pt", "scaler.pt", "rng_state")


def _module_folders(root: Path) -> list[Path]:
    """The model folder and the module folders a sentence-transformers ``modules.json`` names."""
    folders = [root]
    modules = root / "modules.json"
    if modules.is_file():
        try:
            entries = json.loads(modules.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise ModelNotAvailable(
                f"{modules}: unreadable modules.json ({e})", "restore the model folder from its source"
            ) from e
        for entry in entries if isinstance(entries, list) else []:
            sub = entry.get("path") if isinstance(entry, dict) else None
            if isinstance(sub, str) and sub:
                # Not resolved: a module folder that is a symlink (or a "../" path) out of the
                # model is loaded from all the same, so it is checked all the same.
                folder = Path(os.path.normpath(root / sub))
                if folder.is_dir() and folder not in folders:
                    folders.append(folder)
    return folders


def _safetensors_in(folder: Path) -> list[Path]:
    index = folder / SHARD_INDEX
    if index.is_file() and not (folder / "model.safetensors").is_file():
        try:
            shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise ModelNotAvailable(f"{index}: unreadable shard index ({e})", "restore the model folder") from e
        missing = [s for s in shards if not (folder / s).is_file()]
        if missing:
            raise ModelNotAvailable(
                f"{folder}: weights shard {missing[0]} listed in {SHARD_INDEX} is missing",
                "restore the model folder from its source",
            )
        return [folder / s for s in shards]
    return sorted(p for p in folder.glob("*.safetensors") if p.is_file())


def _pickles_in(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in PICKLE_SUFFIXES and not p.name.startswith(TRAINING_STATE)
    )


def convert_hint(pickle_file: Path) -> str:
    """How to turn a pickle weights file into safetensors (to run on a trusted machine)."""
    src = str(pickle_file)
    dst = str(pickle_file.with_name("model.safetensors"))
    return (
        "convert the weights to safetensors on a machine where you trust the file, e.g. "
        f'python -c "import torch; from safetensors.torch import save_file; '
        f"save_file({{k: v.clone().contiguous() for k, v in torch.load({src!r}, weights_only=True).items()}}, "
        f"{dst!r}, metadata={{'format': 'pt'}})\" and delete the pickle file "
        "(or load the model there and save_pretrained(..., safe_serialization=True))"
    )


def weights_files(folder: str | Path) -> list[Path]:
    """The safetensors files loaded from ``folder``, sorted; refuses pickle-only or weightless folders.

    Raises:
        UnsafeModel: a folder that holds weights has only pickle files.
        ModelNotAvailable: no weights at all.
    """
    root = Path(folder).expanduser().resolve()
    if not root.is_dir():
        raise ModelNotAvailable(f"no model folder {str(folder)!r}", "check the path given as {=model}")
    found: list[Path] = []
    for sub in _module_folders(root):
        safe = _safetensors_in(sub)
        if safe:
            found.extend(safe)
            continue
        pickles = _pickles_in(sub)
        if pickles:
            names = ", ".join(p.name for p in pickles[:3])
            raise UnsafeModel(
                f"{sub} has pickle weights only ({names}); they are never loaded", convert_hint(pickles[0])
            )
    if not found:
        raise ModelNotAvailable(
            f"cannot load model from {root}: no weights (no *.safetensors file)",
            "check that the folder holds config.json, a tokenizer and model.safetensors",
        )
    return sorted(set(found), key=lambda p: os.path.relpath(p, root))


def require_safetensors(folder: str | Path) -> list[Path]:
    """Check, before loading, that ``folder`` (and a local PEFT base model) loads safetensors only.

    Returns the weights files of ``folder`` (as `weights_files`).
    """
    root = Path(folder)
    files = weights_files(root)
    adapter = root / "adapter_config.json"
    if adapter.is_file():
        try:
            base = json.loads(adapter.read_text(encoding="utf-8")).get("base_model_name_or_path")
        except (OSError, ValueError, AttributeError):
            base = None
        if isinstance(base, str) and base and Path(base).expanduser().is_dir():
            weights_files(Path(base).expanduser())
    return files
