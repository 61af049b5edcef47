"""Keeping the Hugging Face libraries quiet: the logs, progress bars and warnings of transformers,
huggingface_hub, datasets and sentence-transformers.

A command shows its own progress and its own errors; the libraries' load bars, "newly initialized
weights" notices and advisory warnings are noise there (``--verbose`` keeps them). Each function
imports the library it silences, so importing this module imports none (``nlu --help`` stays free of
transformers), and ``datasets`` is silenced only where it is used, since most commands never import it.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

#: Read by huggingface_hub and transformers when imported, so they cover a library imported later too.
ENVIRONMENT = {"HF_HUB_DISABLE_PROGRESS_BARS": "1", "TRANSFORMERS_VERBOSITY": "error"}

#: Loggers held at ERROR: sentence-transformers warns on every int8 embedding quantization calibrated on the
#: embeddings themselves ("Computing int8 quantization buckets based on N embeddings..."), NNCF logs its steps.
LOGGERS = ("sentence_transformers", "nncf")

#: sentence-transformers modules that draw a plain tqdm bar of their own: the model card's "Computing widget
#: examples", drawn whenever a SentenceTransformer is saved (fine-tuning).
_ST_BAR_MODULES = ("sentence_transformers.base.model_card",)


def silence_libraries() -> None:
    """For the rest of the process: transformers logs errors only, neither it nor huggingface_hub
    draws a progress bar, and Python warnings are ignored. Variables the user set in the environment win."""
    for name, value in ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    warnings.filterwarnings("ignore")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()  # huggingface_hub's bars too
    for name in LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)


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
def quiet_sentence_transformers() -> Iterator[None]:
    """For the block: sentence-transformers logs errors only and its own tqdm bars (the model card's
    "Computing widget examples" when a model is saved) draw nothing; both are restored after.
    Only modules already imported are touched (this imports nothing)."""
    logger = logging.getLogger("sentence_transformers")
    level = logger.level
    logger.setLevel(logging.ERROR)
    patched = [
        (m, m.tqdm) for name in _ST_BAR_MODULES if (m := sys.modules.get(name)) is not None and hasattr(m, "tqdm")
    ]
    for module, bar in patched:
        module.tqdm = functools.partial(bar, disable=True)  # tqdm's own switch: iterates, draws nothing
    try:
        yield
    finally:
        for module, bar in patched:
            module.tqdm = bar
        logger.setLevel(level)


@contextmanager
def quiet_libraries() -> Iterator[None]:
    """`quiet_transformers`, `quiet_datasets` and `quiet_sentence_transformers` together, restored after
    (fine-tuning: loading the weights, mapping and writing the data and saving the model draw no bar; the
    training bar is the command's own)."""
    with quiet_transformers(), quiet_datasets(), quiet_sentence_transformers():
        yield
