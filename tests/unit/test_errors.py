"""Unit tests for nlu_toolkit.errors and nlu_toolkit.extras."""

from __future__ import annotations

import pytest

from nlu_toolkit import errors
from nlu_toolkit.errors import (
    ArtefactBusy,
    CheckpointCorrupted,
    IndexCorrupted,
    InputError,
    MissingExtra,
    ModelCorrupted,
    ModelMismatch,
    ModelNotAvailable,
    NluError,
    OutputError,
    TrainingDataError,
    UnsafeModel,
    UsageError,
)
from nlu_toolkit.extras import require


@pytest.mark.parametrize(
    ("cls", "code"),
    [
        (NluError, 1),
        (ModelCorrupted, 1),
        (IndexCorrupted, 1),
        (InputError, 2),
        (UsageError, 2),
        (ModelNotAvailable, 2),
        (ModelMismatch, 2),
        (MissingExtra, 2),
        (TrainingDataError, 2),
        (OutputError, 2),
        (ArtefactBusy, 1),
        (UnsafeModel, 2),
        (CheckpointCorrupted, 2),
    ],
)
def test_exit_codes(cls, code):
    assert cls.exit_code == code
    err = cls("something went wrong", "do this next")
    assert err.exit_code == code
    assert isinstance(err, NluError)
    assert isinstance(err, Exception)


def test_every_error_class_is_covered():
    classes = {
        obj
        for obj in vars(errors).values()
        if isinstance(obj, type) and issubclass(obj, NluError) and obj.__module__ == errors.__name__
    }
    assert classes == {
        NluError,
        ModelCorrupted,
        IndexCorrupted,
        InputError,
        UsageError,
        ModelNotAvailable,
        ModelMismatch,
        MissingExtra,
        TrainingDataError,
        OutputError,
        ArtefactBusy,
        UnsafeModel,
        CheckpointCorrupted,
    }


def test_str_includes_hint():
    err = UsageError("bad option", "use --foo")
    assert str(err) == "bad option (use --foo)"
    assert err.message == "bad option"
    assert err.hint == "use --foo"


def test_str_without_hint():
    err = NluError("plain")
    assert str(err) == "plain"
    assert err.hint is None


def test_input_error_with_path_and_line():
    err = InputError("bad row", "fix it", path="data.csv", line=12)
    assert str(err) == "data.csv:12: bad row (fix it)"
    assert err.path == "data.csv"
    assert err.line == 12


def test_input_error_with_path_only():
    err = InputError("no such file", "check the path", path="x.txt")
    assert str(err) == "x.txt: no such file (check the path)"
    assert err.line is None


def test_input_error_without_location():
    err = InputError("no texts given", "pass one")
    assert str(err) == "no texts given (pass one)"
    assert err.path is None and err.line is None


def test_errors_can_be_caught_as_base_and_raised_from():
    with pytest.raises(NluError) as excinfo:
        try:
            raise KeyError("x")
        except KeyError as e:
            raise ModelNotAvailable("offline", "connect") from e
    assert isinstance(excinfo.value.__cause__, KeyError)


def test_require_missing_module():
    with pytest.raises(MissingExtra) as excinfo:
        require("no_such_module_xyz", extra="ann")
    err = excinfo.value
    assert err.exit_code == 2
    assert "pip install 'nlu-toolkit[ann]'" in err.hint
    assert "pip install 'nlu-toolkit[ann]'" in str(err)
    assert "no_such_module_xyz" in str(err)
    assert isinstance(err.__cause__, ImportError)


def test_require_names_pip_package_when_given():
    with pytest.raises(MissingExtra) as excinfo:
        require("no_such_module_xyz", extra="train", package="no-such-package")
    assert "no-such-package" in str(excinfo.value)
    assert "nlu-toolkit[train]" in excinfo.value.hint


def test_require_present_module_returns_it():
    import json

    assert require("json", extra="x") is json


def test_output_error_names_its_path():
    err = OutputError("permission denied", "choose another folder", path="out/x.jsonl")
    assert str(err) == "out/x.jsonl: permission denied (choose another folder)" and err.path == "out/x.jsonl"
