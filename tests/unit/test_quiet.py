"""`nlu_toolkit.models.quiet`: the libraries silenced for good (a command) or for a block (fine-tuning)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import warnings

import pytest

from nlu_toolkit.models.quiet import ENVIRONMENT, quiet_datasets, quiet_libraries, silence_libraries

hf_logging = pytest.importorskip("transformers.utils.logging")
datasets = pytest.importorskip("datasets")


def _state() -> tuple:
    return (
        hf_logging.get_verbosity(),
        hf_logging.is_progress_bar_enabled(),
        datasets.logging.get_verbosity(),
        datasets.is_progress_bar_enabled(),
    )


def test_the_block_forms_silence_and_then_restore_every_setting():
    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_warning()
    try:
        _silenced_then_restored()
    finally:
        hf_logging.set_verbosity(level)


def _silenced_then_restored() -> None:
    before = _state()
    with quiet_libraries():
        assert hf_logging.get_verbosity() == logging.ERROR
        assert not hf_logging.is_progress_bar_enabled() and not datasets.is_progress_bar_enabled()
        assert datasets.logging.get_verbosity() == before[2]  # its logs are left alone unless a level is given
        with quiet_datasets(logging.CRITICAL):
            assert datasets.logging.get_verbosity() == logging.CRITICAL
        assert datasets.logging.get_verbosity() == before[2]
    assert _state() == before
    with pytest.raises(RuntimeError), quiet_libraries():
        raise RuntimeError("a failed run restores them too")
    assert _state() == before


def test_silencing_for_good_keeps_what_the_user_set(monkeypatch):
    monkeypatch.setenv("TRANSFORMERS_VERBOSITY", "info")
    monkeypatch.delenv("HF_HUB_DISABLE_PROGRESS_BARS", raising=False)
    level, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    try:
        with warnings.catch_warnings(record=True) as seen:  # restores the filter it sets for the process
            silence_libraries()
            warnings.warn("an advisory warning", UserWarning, stacklevel=1)
        assert seen == []
        assert hf_logging.get_verbosity() == logging.ERROR and not hf_logging.is_progress_bar_enabled()
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()
    assert os.environ["TRANSFORMERS_VERBOSITY"] == "info"
    assert os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] == ENVIRONMENT["HF_HUB_DISABLE_PROGRESS_BARS"]


def test_importing_the_module_imports_no_library():
    code = (
        "import sys, nlu_toolkit.models.quiet; print(sorted({'transformers', 'datasets', 'torch'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
