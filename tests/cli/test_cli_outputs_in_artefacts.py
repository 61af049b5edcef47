"""An output inside a model or index folder is refused before any work: writing there could damage it.

Each test works on a copy of the tiny model, so a regression cannot damage the session's fixtures.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from cli_checks import check_error

from nlu_toolkit.errors import OutputError
from nlu_toolkit.io.guard import artefact_kind, check_output_file, check_output_folder


def _digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        digest.update(str(path.relative_to(folder)).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


@pytest.fixture
def models(tmp_path, st_model, cls_model, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    shutil.copytree(st_model, tmp_path / "m" / "st")
    shutil.copytree(cls_model, tmp_path / "m" / "cls")
    (tmp_path / "in.txt").write_text("good film\nbad film\n", encoding="utf-8")
    return tmp_path / "m"


@pytest.mark.parametrize(
    "args",
    [
        ["embed", "--input", "in.txt", "-m", "m/st", "-o", "m/st/model.safetensors"],
        ["embed", "--input", "in.txt", "-m", "m/st", "-o", "m/st/new.jsonl"],
        ["classify", "--input", "in.txt", "-m", "m/cls", "-o", "m/cls/config.json"],
        ["index", "build", "in.txt", "-m", "m/st", "--out", "m/st/sub"],
        ["index", "build", "in.txt", "-m", "m/st", "--out", "m/cls/idx"],
    ],
)
def test_outputs_inside_a_model_folder_are_refused_and_the_model_is_untouched(nlu, models, args):
    before = {name: _digest(models / name) for name in ("st", "cls")}
    check_error(nlu(*args), 2, contains="inside the model folder")
    assert {name: _digest(models / name) for name in ("st", "cls")} == before


def test_evaluate_output_inside_the_model_is_refused(nlu, models, data_dir):
    before = _digest(models / "cls")
    data = data_dir / "finetune" / "sentiment_dev.csv"
    result = nlu("evaluate", "--task", "classification", "-m", "m/cls", "--data", data, "-o", "m/cls/config.json")
    check_error(result, 2, contains="inside the model folder")
    assert _digest(models / "cls") == before


def test_an_output_inside_an_index_folder_is_refused(nlu, models):
    from cli_checks import check_ok

    check_ok(nlu("index", "build", "in.txt", "-m", "m/st", "--out", "idx"))
    check_error(nlu("embed", "--input", "in.txt", "-m", "m/st", "-o", "idx/vectors.jsonl"), 2, contains="index folder")
    check_error(nlu("index", "build", "in.txt", "-m", "m/st", "--out", "idx/nested"), 2, contains="index folder")


def test_library_checks_refuse_outputs_under_artefacts(models):
    assert artefact_kind(models / "st") == "model" and artefact_kind(models) is None
    with pytest.raises(OutputError, match="inside the model folder"):
        check_output_file(models / "st" / "deeper" / "x.jsonl")
    with pytest.raises(OutputError, match="inside the model folder"):
        check_output_folder(models / "cls" / "out", kind="index", is_kind=lambda p: False)
    assert check_output_file(models / "x.jsonl") == models / "x.jsonl"  # beside the models is fine
