"""Safetensors only, everywhere (issue 13): pickle weights are refused before loading, by every loader,
and a folder without safetensors weights has no weights checksum."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nlu_toolkit.errors import ModelNotAvailable, UnsafeModel
from nlu_toolkit.models.resolver import ModelInfo, clear_cache, load_model, weights_sha256
from nlu_toolkit.models.testing import resave_as_pickle


@pytest.fixture
def no_unpickling(monkeypatch):
    """Any call of torch.load fails the test: the refusal must come before anything is loaded."""
    import torch

    def refuse(*args, **kwargs):
        raise AssertionError("torch.load was called on a pickle")

    monkeypatch.setattr(torch, "load", refuse)
    clear_cache()


@pytest.mark.parametrize(
    ("fixture", "task"),
    [
        ("st_pickle", "sentence-embedding"),
        ("st_pickle", "zero-shot"),
        ("ce_pickle", "cross-encoder"),
        ("cls_pickle", "text-classification"),
        ("cls_pickle", "zero-shot"),
    ],
)
def test_pickle_only_model_is_refused_before_loading(request, no_unpickling, fixture, task):
    folder = request.getfixturevalue(fixture)
    assert not list(Path(folder).rglob("*.safetensors")) and list(Path(folder).rglob("pytorch_model.bin"))
    with pytest.raises(UnsafeModel, match="pickle weights only") as err:
        load_model(folder, task, device="cpu")
    assert err.value.exit_code == 2 and isinstance(err.value, ModelNotAvailable)
    assert "safetensors" in err.value.hint


def test_pickle_only_model_is_refused_by_the_library_functions(no_unpickling, st_pickle, ce_pickle, st_model):
    from nlu_toolkit.search.index import SemanticIndex
    from nlu_toolkit.tasks.embed import embed, similarity

    with pytest.raises(UnsafeModel):
        embed(["a text"], model=st_pickle)
    with pytest.raises(UnsafeModel):
        similarity("a", "b", model=st_pickle)
    with pytest.raises(UnsafeModel):
        SemanticIndex.build(["one", "two"], model=st_pickle)
    index = SemanticIndex.build(["one", "two"], model=st_model)
    with pytest.raises(UnsafeModel):
        index.search(["one"], top_k=1, rerank=ce_pickle)


def test_pickle_only_model_is_refused_by_inspect(no_unpickling, st_pickle):
    from nlu_toolkit.tasks.inspect import Inspector

    with pytest.raises(UnsafeModel):
        Inspector(st_pickle)


def test_peft_adapter_with_pickle_weights_is_refused(no_unpickling, tmp_path, cls_model):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    config = {"peft_type": "LORA", "base_model_name_or_path": cls_model, "task_type": "SEQ_CLS", "r": 2}
    (adapter / "adapter_config.json").write_text(json.dumps(config))
    (adapter / "adapter_model.bin").write_bytes(b"\x80\x04pickle")
    with pytest.raises(UnsafeModel, match=r"adapter_model\.bin"):
        load_model(str(adapter), "text-classification", device="cpu")


def test_the_conversion_hint_produces_a_model_that_loads(tmp_path, st_model):
    folder = resave_as_pickle(st_model, tmp_path / "legacy")
    with pytest.raises(UnsafeModel) as err:
        load_model(str(folder), "sentence-embedding", device="cpu")
    command = re.search(r'python -c "(.*?)" and delete', err.value.hint)
    assert command is not None, err.value.hint
    subprocess.run([sys.executable, "-c", command.group(1)], check=True)
    (folder / "pytorch_model.bin").unlink()
    clear_cache()
    loaded = load_model(str(folder), "sentence-embedding", device="cpu")
    assert weights_sha256(loaded.info) == weights_sha256(load_model(st_model, "sentence-embedding").info)


def _info(path: str) -> ModelInfo:
    return ModelInfo(path, path, "local", str(Path(path).resolve()), "sentence-embedding")


def test_pickle_only_folders_have_no_weights_checksum(st_pickle, st_pickle_other):
    # Before: both hashed nothing and compared equal, so either passed the other's index check.
    for folder in (st_pickle, st_pickle_other):
        with pytest.raises(UnsafeModel):
            weights_sha256(_info(folder))


def test_weights_checksum_covers_the_loaded_files_only(tmp_path, st_model, st_model_other):
    ours, other = weights_sha256(_info(st_model)), weights_sha256(_info(st_model_other))
    assert ours != other
    copy = tmp_path / "copy"
    shutil.copytree(st_model, copy)
    assert weights_sha256(_info(str(copy))) == ours  # content identifies the model, not its path
    # A checkpoint left inside a fine-tune output is not loaded, so it does not change the checksum.
    (copy / "checkpoints" / "checkpoint-1").mkdir(parents=True)
    (copy / "checkpoints" / "checkpoint-1" / "model.safetensors").write_bytes(b"old")
    assert weights_sha256(_info(str(copy))) == ours
    (copy / "model.safetensors").write_bytes((copy / "model.safetensors").read_bytes()[:-4] + b"\0\0\0\0")
    assert weights_sha256(_info(str(copy))) != ours


def test_embedded_model_is_safetensors():
    from nlu_toolkit.models.resolver import HUB_PATTERNS

    assert not [p for p in HUB_PATTERNS if p.endswith((".bin", ".pt", ".pth", ".pkl", ".ckpt", ".h5", ".msgpack"))]
    import zipfile

    from nlu_toolkit.models.embedded import find_zip

    try:
        names = zipfile.ZipFile(find_zip()).namelist()
    except ModelNotAvailable:
        pytest.skip("the embedded model package is not installed")
    assert "model.safetensors" in names
    assert not [n for n in names if n.endswith((".bin", ".pt", ".pth", ".pkl", ".ckpt"))]
