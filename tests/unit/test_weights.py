"""Safetensors only: which weights files a folder loads, refused before loading when they are pickle."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nlu_toolkit.errors import ModelNotAvailable, UnsafeModel
from nlu_toolkit.models.weights import require_safetensors, weights_files


def _folder(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_safetensors_folder_lists_its_weights(tmp_path):
    folder = _folder(tmp_path / "m", {"config.json": "{}", "model.safetensors": "w", "training_args.bin": "p"})
    assert weights_files(folder) == [folder.resolve() / "model.safetensors"]


@pytest.mark.parametrize("name", ["pytorch_model.bin", "model.pt", "weights.pth", "model.pkl", "last.ckpt"])
def test_pickle_only_folder_is_unsafe_with_a_conversion_hint(tmp_path, name):
    folder = _folder(tmp_path / "m", {"config.json": "{}", name: "pickle"})
    with pytest.raises(UnsafeModel, match="pickle weights only") as err:
        weights_files(folder)
    assert isinstance(err.value, ModelNotAvailable) and err.value.exit_code == 2
    assert "safetensors" in err.value.hint and name in err.value.hint


def test_folder_without_weights_is_not_available_not_unsafe(tmp_path):
    folder = _folder(tmp_path / "m", {"config.json": "{}"})
    with pytest.raises(ModelNotAvailable, match="no weights") as err:
        weights_files(folder)
    assert not isinstance(err.value, UnsafeModel)


def test_sentence_transformers_module_folder_with_pickle_dense_is_unsafe(tmp_path):
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"},
    ]
    files = {
        "modules.json": json.dumps(modules),
        "model.safetensors": "w",
        "1_Pooling/config.json": "{}",
        "2_Dense/config.json": "{}",
        "2_Dense/pytorch_model.bin": "pickle",
    }
    folder = _folder(tmp_path / "st", files)
    with pytest.raises(UnsafeModel, match="2_Dense"):
        weights_files(folder)
    (folder / "2_Dense" / "pytorch_model.bin").unlink()
    (folder / "2_Dense" / "model.safetensors").write_text("dense")
    names = [str(p.relative_to(folder.resolve())) for p in weights_files(folder)]
    assert names == ["2_Dense/model.safetensors", "model.safetensors"]


def test_sharded_safetensors_are_the_shards_the_index_lists(tmp_path):
    index = {"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}
    files = {
        "model.safetensors.index.json": json.dumps(index),
        "model-00001-of-00002.safetensors": "1",
        "model-00002-of-00002.safetensors": "2",
    }
    folder = _folder(tmp_path / "m", files)
    assert [p.name for p in weights_files(folder)] == sorted(index["weight_map"].values())
    (folder / "model-00002-of-00002.safetensors").unlink()
    with pytest.raises(ModelNotAvailable, match="missing"):
        weights_files(folder)


def test_checkpoint_sub_folders_are_not_weights_of_the_model(tmp_path):
    files = {"model.safetensors": "w", "checkpoints/checkpoint-1/model.safetensors": "old"}
    folder = _folder(tmp_path / "m", files)
    assert weights_files(folder) == [folder.resolve() / "model.safetensors"]


def test_peft_adapter_with_pickle_weights_is_unsafe(tmp_path):
    adapter = _folder(tmp_path / "adapter", {"adapter_config.json": "{}", "adapter_model.bin": "pickle"})
    with pytest.raises(UnsafeModel, match=r"adapter_model\.bin"):
        require_safetensors(adapter)


def test_peft_adapter_over_a_pickle_base_folder_is_unsafe(tmp_path):
    base = _folder(tmp_path / "base", {"config.json": "{}", "pytorch_model.bin": "pickle"})
    config = json.dumps({"base_model_name_or_path": str(base)})
    adapter = _folder(tmp_path / "adapter", {"adapter_config.json": config, "adapter_model.safetensors": "w"})
    with pytest.raises(UnsafeModel, match="base"):
        require_safetensors(adapter)
    (base / "pytorch_model.bin").rename(base / "model.safetensors")
    assert require_safetensors(adapter) == [adapter.resolve() / "adapter_model.safetensors"]


def test_training_state_pickles_are_not_model_weights(tmp_path):
    files = {"training_args.bin": "p", "optimizer.pt": "p", "scheduler.pt": "p", "rng_state.pth": "p"}
    folder = _folder(tmp_path / "ckpt", files)
    with pytest.raises(ModelNotAvailable, match="no weights") as err:
        weights_files(folder)
    assert not isinstance(err.value, UnsafeModel)


@pytest.mark.parametrize("how", ["symlink", "dotdot"])
def test_a_module_folder_outside_the_model_is_checked_too(tmp_path, how):
    """sentence-transformers loads a module from wherever its path leads: a link or ``../`` is no way around the check."""
    outside = _folder(tmp_path / "elsewhere" / "dense", {"config.json": "{}", "pytorch_model.bin": "pickle"})
    path = "2_Dense" if how == "symlink" else "../elsewhere/dense"
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": path, "type": "sentence_transformers.models.Dense"},
    ]
    folder = _folder(tmp_path / "st", {"modules.json": json.dumps(modules), "model.safetensors": "w"})
    if how == "symlink":
        (folder / "2_Dense").symlink_to(outside, target_is_directory=True)
    with pytest.raises(UnsafeModel, match="pickle weights only"):
        weights_files(folder)
    (outside / "pytorch_model.bin").unlink()
    (outside / "model.safetensors").write_text("dense")
    found = weights_files(folder)  # the linked module's weights are loaded, so they are hashed too
    assert sorted(p.read_text() for p in found) == ["dense", "w"]
