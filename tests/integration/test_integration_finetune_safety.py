"""Fine-tuning reliability (issue 13) through the library: safetensors-only bases, checked checkpoints,
output folders that are never someone else's, and no folder left behind by a failed run."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from nlu_toolkit import finetune
from nlu_toolkit.errors import CheckpointCorrupted, OutputError, TrainingDataError, UnsafeModel
from nlu_toolkit.models.testing import resave_as_pickle


@pytest.fixture(scope="module")
def samples(data_dir: Path) -> Path:
    return data_dir / "finetune"


@pytest.fixture(scope="module")
def checkpointed(st_model, samples, tmp_path_factory) -> Path:
    """A one-step classification run that kept its checkpoint."""
    out = tmp_path_factory.mktemp("ft") / "run"
    finetune(
        "classification", samples / "sentiment_train.csv", out, model=st_model, max_steps=1, batch_size=4,
        keep_checkpoints=True,
    )  # fmt: skip
    assert (out / "checkpoints" / "checkpoint-1" / "trainer_state.json").is_file()
    return out


def test_finetune_from_a_pickle_only_base_is_refused_before_any_folder(st_model, samples, tmp_path):
    base = resave_as_pickle(st_model, tmp_path / "legacy")
    out = tmp_path / "out"
    with pytest.raises(UnsafeModel, match="pickle weights only"):
        finetune("classification", samples / "sentiment_train.csv", out, model=str(base), max_steps=1)
    assert not out.exists()


def test_resume_from_a_checkpoint_without_trainer_state_is_refused_before_training(checkpointed, samples, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(checkpointed, out)
    (out / "checkpoints" / "checkpoint-1" / "trainer_state.json").unlink()
    before = (out / "model.safetensors").read_bytes()
    with pytest.raises(CheckpointCorrupted, match=r"trainer_state\.json is missing") as err:
        finetune("classification", samples / "sentiment_train.csv", out, resume=True, max_steps=2, batch_size=4)
    assert "pass overwrite" in err.value.hint
    assert (out / "model.safetensors").read_bytes() == before


def test_failed_finetune_removes_the_folder_it_created(st_model, samples, tmp_path):
    # The questions do not fit the tiny model's window: the run fails after the folder was made.
    out = tmp_path / "new" / "qa"
    with pytest.raises(TrainingDataError, match="too long"):
        finetune("qa", samples / "qa_train.json", out, model=st_model, max_steps=1)
    assert not (tmp_path / "new").exists()
    existing = tmp_path / "existing"
    existing.mkdir()
    with pytest.raises(TrainingDataError):
        finetune("qa", samples / "qa_train.json", existing, model=st_model, max_steps=1)
    assert existing.is_dir()  # it was there before: never removed


def test_finetune_never_replaces_a_folder_that_is_not_a_finetune_output(st_model, checkpointed, samples, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "precious.txt").write_text("keep")
    for overwrite in (False, True):
        with pytest.raises(OutputError, match="not a fine-tune output"):
            finetune("classification", samples / "sentiment_train.csv", mine, model=st_model, overwrite=overwrite)
    assert sorted(p.name for p in mine.iterdir()) == ["precious.txt"]
    # Continuing from a fine-tuned model into its own folder would overwrite the base it loads.
    run = tmp_path / "run"
    shutil.copytree(checkpointed, run)
    with pytest.raises(OutputError, match="input"):
        finetune("classification", samples / "sentiment_train.csv", run, model=str(run), overwrite=True)
    assert (run / "checkpoints" / "checkpoint-1").is_dir()
