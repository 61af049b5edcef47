"""What `nlu app` serves (`AppConfig`), its defaults, the model flags, and the offline environment."""

from __future__ import annotations

import os
from dataclasses import dataclass

from nlu_toolkit.errors import NluError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
CLUSTER_METHODS = ("kmeans", "agglomerative", "community", "hdbscan")


def offline_environment() -> None:
    """Turn off Gradio analytics and hub telemetry, and keep the hub offline unless the user said otherwise.

    Must run before ``import gradio``: some of these are read at import time.
    ``HF_HUB_OFFLINE`` is only defaulted, so ``HF_HUB_OFFLINE=0 nlu app ...`` still allows downloads.
    """
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
    os.environ["DO_NOT_TRACK"] = "1"
    os.environ["GRADIO_SHARE"] = "False"
    os.environ.setdefault("HF_HUB_OFFLINE", "1")


@dataclass
class AppConfig:
    """What `nlu app` serves. Model fields take what ``--model`` takes (folder, cached hub id, preset).

    Attributes:
        index: a saved index folder for the search tab (and the default corpus for clustering).
        classify_model: supervised classifier, used when no labels are given
            (default: the sentiment preset, if it is in the local HF cache).
        zero_shot_model: used when labels are given (default: the embedded MiniLM; an NLI model works too).
        ner_model: token-classification model (default: the ner preset, if cached).
        qa_model: extractive-QA model (default: the qa preset, if cached).
        embed_model: sentence-transformers model for pasted corpora and clustering (default: embedded MiniLM).
        device: ``auto``, ``cpu``, ``cuda`` or ``mps``.
    """

    index: str | None = None
    classify_model: str | None = None
    zero_shot_model: str | None = None
    ner_model: str | None = None
    qa_model: str | None = None
    embed_model: str | None = None
    device: str = "auto"


#: task -> (name shown in messages, the `nlu app` flag, resolver task); the key is also the AppConfig field prefix.
MODEL_FLAGS = {
    "classify": ("Supervised classification", "--classify-model", "text-classification"),
    "zero_shot": ("Zero-shot classification", "--zero-shot-model", "zero-shot"),
    "ner": ("NER", "--ner-model", "token-classification"),
    "qa": ("Question answering", "--qa-model", "question-answering"),
    "embed": ("Search and clustering of a pasted corpus", "--embed-model", "sentence-embedding"),
}


def unavailable_message(task: str, error: NluError) -> str:
    """The tab notice for a task whose model cannot load: what failed, and the flag that fixes it."""
    name, flag, _ = MODEL_FLAGS[task]
    return (
        f"{name} has no usable model here: {error.message}. "
        f"Start the app with `nlu app {flag} PATH` (a local model folder, or a hub id already in the HF cache; "
        "`nlu models pull` fetches the presets on a connected machine)."
    )
