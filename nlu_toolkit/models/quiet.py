"""Keeping the Hugging Face libraries quiet: the logs, progress bars and warnings of transformers,
huggingface_hub and datasets.

A command shows its own progress and its own errors; the libraries' load bars, "newly initialized
weights" notices and advisory warnings are noise there (``--verbose`` keeps them). Each function
imports the library it silences, so importing this module imports none (``nlu --help`` stays free of
transformers), and ``datasets`` is silenced only where it is used, since most commands never import it.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

#: Read by huggingface_hub and transformers when imported, so they cover a library imported later too.
ENVIRONMENT = {"HF_HUB_DISABLE_PROGRESS_BARS": "1", "TRANSFORMERS_VERBOSITY": "error"}


def silence_libraries() -> None:
    """For the rest of the process: transformers logs errors only, neither it nor huggingface_hub
    draws a progress bar, and Python warnings are ignored. Variables the user set in the environment win."""
    for name, value in ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    warnings.filterwarnings("ignore")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()  # huggingface_hub's bars too


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """For the block: transformers logs errors only and no transformers or huggingface_hub bar is drawn;
    the verbosity and the bars are restored after."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


@contextmanager
def quiet_datasets(level: int | None = None) -> Iterator[None]:
    """For the block: no datasets progress bar, and its logs at ``level`` (a `logging` level) when given;
    both are restored after."""
    import datasets

    verbosity = datasets.logging.get_verbosity()
    bars = datasets.is_progress_bar_enabled()
    if level is not None:
        datasets.logging.set_verbosity(level)
    if bars:
        with warnings.catch_warnings():  # it warns when an environment variable forces bars on
            warnings.simplefilter("ignore")
            datasets.disable_progress_bars()
    try:
        yield
    finally:
        datasets.logging.set_verbosity(verbosity)
        if bars:
            datasets.enable_progress_bars()


@contextmanager
def quiet_libraries() -> Iterator[None]:
    """`quiet_transformers` and `quiet_datasets` together, restored after (fine-tuning: loading the
    weights, mapping and writing the data draw no bar; the training bar is the command's own)."""
    with quiet_transformers(), quiet_datasets():
        yield
