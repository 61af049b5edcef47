"""Output locations are checked before any work: inputs, foreign folders and unwritable places are refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nlu_toolkit.errors import OutputError
from nlu_toolkit.io import guard
from nlu_toolkit.io.guard import check_output_file, check_output_folder


def _is_index(p: Path) -> bool:
    return (p / "manifest.json").is_file()


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_stdout_passes():
    assert check_output_file(None) is None
    assert check_output_file("-", ["-"]) is None


@pytest.mark.parametrize("spelling", ["in.txt", "./in.txt", "sub/../in.txt", "link.txt", "hard.txt"])
def test_output_that_is_an_input_is_refused_however_spelled(here, spelling):
    (here / "in.txt").write_text("keep\n")
    (here / "sub").mkdir()
    (here / "link.txt").symlink_to(here / "in.txt")
    os.link(here / "in.txt", here / "hard.txt")
    with pytest.raises(OutputError, match="also an input") as e:
        check_output_file(spelling, ["in.txt"])
    assert e.value.exit_code == 2
    assert (here / "in.txt").read_text() == "keep\n"


def test_output_inside_an_input_folder_is_refused(here):
    (here / "idx").mkdir()
    with pytest.raises(OutputError, match="inside the input"):
        check_output_file("idx/out.jsonl", ["idx"])


def test_output_file_that_is_a_folder_is_refused(here):
    (here / "d").mkdir()
    with pytest.raises(OutputError, match="is a folder"):
        check_output_file("d")
    with pytest.raises(OutputError, match="must name a file"):
        check_output_file(".")


def test_output_file_with_missing_parent_is_refused(here):
    with pytest.raises(OutputError, match="does not exist"):
        check_output_file("nope/out.jsonl")


def test_output_file_in_read_only_folder_is_refused(here, monkeypatch):
    monkeypatch.setattr(guard.os, "access", lambda *a, **k: False)
    with pytest.raises(OutputError, match="permission denied"):
        check_output_file("out.jsonl")


def test_plot_suffix_is_checked(here):
    assert check_output_file("p.PNG", suffixes=guard.PLOT_SUFFIXES) == Path("p.PNG")
    with pytest.raises(OutputError, match="unknown file type"):
        check_output_file("p.xyz", suffixes=guard.PLOT_SUFFIXES)


def test_existing_unrelated_file_may_be_replaced(here):
    (here / "old.jsonl").write_text("x")
    assert check_output_file("old.jsonl", ["in.txt"]) == Path("old.jsonl")


def _folder(path, **kw):
    return check_output_folder(path, kind="index", is_kind=_is_index, **kw)


def test_foreign_folder_is_refused_even_with_overwrite(here):
    (here / "mine").mkdir()
    (here / "mine" / "precious.txt").write_text("keep")
    for overwrite in (False, True):
        with pytest.raises(OutputError, match="not an index"):
            _folder("mine", overwrite=overwrite)
    assert (here / "mine" / "precious.txt").read_text() == "keep"


def test_existing_artefact_needs_overwrite(here):
    (here / "idx").mkdir()
    (here / "idx" / "manifest.json").write_text("{}")
    with pytest.raises(OutputError) as e:
        _folder("idx")
    assert "pass overwrite" in (e.value.hint or "") and "overwrite" in e.value.params
    assert _folder("idx", overwrite=True) == Path("idx")


def test_file_where_a_folder_goes_is_refused(here):
    (here / "notes.txt").write_text("keep")
    with pytest.raises(OutputError, match="existing file"):
        _folder("notes.txt", overwrite=True)


@pytest.mark.parametrize("spelling", [".", "./", "..", "sub/.."])
def test_current_folder_and_its_parents_are_refused(here, spelling):
    (here / "sub").mkdir()
    with pytest.raises(OutputError, match="current folder"):
        _folder(spelling, overwrite=True)


def test_folder_holding_or_inside_an_input_is_refused(here):
    (here / "data").mkdir()
    (here / "data" / "c.jsonl").write_text("{}")
    with pytest.raises(OutputError, match="input"):
        _folder("data", inputs=["data/c.jsonl"])
    with pytest.raises(OutputError, match="input"):
        _folder("data/c.jsonl/x", inputs=["data/c.jsonl"])


def test_empty_and_new_folders_pass(here):
    (here / "empty").mkdir()
    assert _folder("empty") == Path("empty")
    assert _folder("new/deeper/idx") == Path("new/deeper/idx")


def test_read_only_place_for_a_folder_is_refused(here, monkeypatch):
    monkeypatch.setattr(guard.os, "access", lambda *a, **k: False)
    with pytest.raises(OutputError, match="permission denied"):
        _folder("new/idx")
