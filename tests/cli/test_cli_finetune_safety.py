"""`nlu finetune` / `nlu evaluate` reliability (issue 13): pickle bases, damaged checkpoints, foreign output
folders, failed runs and unknown plot types are one-line exit-2 errors that touch nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from cli_checks import check_error, check_ok
from typer.testing import CliRunner

from nlu_toolkit.cli.app import app
from nlu_toolkit.models.testing import resave_as_pickle

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "finetune"
TRAIN = SAMPLES / "sentiment_train.csv"


@pytest.fixture(scope="module")
def checkpointed(st_model, tmp_path_factory) -> Path:
    """`nlu finetune --max-steps 1 --keep-checkpoints`, once for the module."""
    out = tmp_path_factory.mktemp("cli-ft") / "run"
    args = ["finetune", "-t", "classification", "--train", str(TRAIN), "-m", st_model, "-o", str(out)]
    check_ok(CliRunner().invoke(app, [*args, "--max-steps", "1", "--batch-size", "4", "--keep-checkpoints"]))
    return out


def test_finetune_from_a_pickle_only_base_is_exit_2(nlu, st_model, tmp_path):
    base = resave_as_pickle(st_model, tmp_path / "legacy")
    out = tmp_path / "out"
    result = nlu("finetune", "-t", "classification", "--train", TRAIN, "-m", base, "-o", out, "--max-steps", "1")
    line = check_error(result, 2, contains="pickle weights only")
    assert "unexpected" not in line and "safetensors" in line
    assert not out.exists()


def test_resume_with_a_checkpoint_missing_trainer_state_is_exit_2(nlu, checkpointed, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(checkpointed, out)
    (out / "checkpoints" / "checkpoint-1" / "trainer_state.json").unlink()
    result = nlu("finetune", "-t", "classification", "--train", TRAIN, "-o", out, "--resume", "--max-steps", "2")
    line = check_error(result, 2, contains="trainer_state.json is missing")
    assert "--overwrite" in line
    assert (out / "checkpoints" / "checkpoint-1").is_dir()


def test_resume_with_a_corrupt_checkpoint_weights_file_is_exit_2(nlu, checkpointed, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(checkpointed, out)
    (out / "checkpoints" / "checkpoint-1" / "model.safetensors").write_bytes(b"\x00" * 16)
    result = nlu("finetune", "-t", "classification", "--train", TRAIN, "-o", out, "--resume", "--max-steps", "2")
    check_error(result, 2, contains="model.safetensors is unreadable")


def test_finetune_refuses_an_existing_folder_that_is_not_a_finetune_output(nlu, st_model, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "precious.txt").write_text("keep")
    for extra in ([], ["--overwrite"]):
        result = nlu("finetune", "-t", "classification", "--train", TRAIN, "-m", st_model, "-o", mine, *extra)
        check_error(result, 2, contains="not a fine-tune output")
    assert [p.name for p in mine.iterdir()] == ["precious.txt"]


def test_finetune_output_that_is_the_training_file_is_exit_2(nlu, st_model, tmp_path):
    train = tmp_path / "train.csv"
    shutil.copy(TRAIN, train)
    result = nlu("finetune", "-t", "classification", "--train", train, "-m", st_model, "-o", train, "--overwrite")
    check_error(result, 2)
    assert train.read_bytes() == TRAIN.read_bytes()


def test_failed_finetune_leaves_no_output_folder(nlu, st_model, tmp_path):
    # The tiny model's 64-token window cannot hold these questions: the run fails once the folder exists.
    out = tmp_path / "qa-model"
    result = nlu("finetune", "-t", "qa", "--train", SAMPLES / "qa_train.json", "-m", st_model, "-o", out)
    check_error(result, 2, contains="too long")
    assert not out.exists()


@pytest.mark.parametrize("name", ["cm.xyz", "cm", "cm.svg"])
def test_evaluate_confusion_plot_of_an_unknown_type_is_refused_before_work(nlu, monkeypatch, tmp_path, name):
    import nlu_toolkit.train.evaluate as evaluate_module

    def no_work(*args, **kwargs):
        raise AssertionError("the model was scored before the output was checked")

    monkeypatch.setattr(evaluate_module, "_classification", no_work)
    plot = tmp_path / name
    data = SAMPLES / "sentiment_dev.csv"
    result = nlu("evaluate", "-t", "classification", "-m", "no-such-model", "-d", data, "--confusion-png", plot)
    check_error(result, 2, contains="unknown file type")
    assert not plot.exists()


def test_evaluate_confusion_plot_checked_by_the_library(tmp_path):
    from nlu_toolkit.errors import OutputError, UsageError
    from nlu_toolkit.train.evaluate import evaluate

    data = SAMPLES / "sentiment_dev.csv"
    with pytest.raises(OutputError, match="unknown file type"):
        evaluate("classification", "no-such-model", data, confusion_png=tmp_path / "cm.xyz")
    with pytest.raises(UsageError, match="confusion_png is for task classification"):
        evaluate("ner", "no-such-model", data, confusion_png=tmp_path / "cm.png")
    assert list(tmp_path.iterdir()) == []
