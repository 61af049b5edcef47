"""nlu_toolkit: applied NLP on Hugging Face models, offline-first.

The library API is exported lazily, so ``import nlu_toolkit`` (and ``nlu --help``)
never imports torch or transformers::

    from nlu_toolkit import classify, ner, qa
    classify(["I loved it"], labels="positive,negative")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from nlu_toolkit._version import __version__ as __version__

_EXPORTS = {
    "classify": "nlu_toolkit.tasks.classify",
    "Classifier": "nlu_toolkit.tasks.classify",
    "RunOptions": "nlu_toolkit.engine.options",
    "ner": "nlu_toolkit.tasks.ner",
    "EntityRecognizer": "nlu_toolkit.tasks.ner",
    "qa": "nlu_toolkit.tasks.qa",
    "QuestionAnswerer": "nlu_toolkit.tasks.qa",
    "embed": "nlu_toolkit.tasks.embed",
    "Embedder": "nlu_toolkit.tasks.embed",
    "similarity": "nlu_toolkit.tasks.embed",
    "cluster": "nlu_toolkit.tasks.cluster",
    "dedupe": "nlu_toolkit.tasks.cluster",
    "SemanticIndex": "nlu_toolkit.search.index",
    "search": "nlu_toolkit.search",
    "open_index": "nlu_toolkit.search.api",
    "semantic_search": "nlu_toolkit.core.retrieval",
    "paraphrase_mining_embeddings": "nlu_toolkit.core.retrieval",
    "community_detection": "nlu_toolkit.core.retrieval",
    "cluster_embeddings": "nlu_toolkit.core.cluster",
    "load_model": "nlu_toolkit.models.resolver",
    "ModelInfo": "nlu_toolkit.models.resolver",
    "list_models": "nlu_toolkit.models.manage",
    "pull": "nlu_toolkit.models.manage",
    "verify": "nlu_toolkit.models.manage",
    "iter_records": "nlu_toolkit.io.readers",
    "write_records": "nlu_toolkit.io.writers",
    "build_manifest": "nlu_toolkit.io.run_manifest",
    "write_manifest": "nlu_toolkit.io.run_manifest",
    "embedded_path": "nlu_toolkit.models.embedded",
    "finetune": "nlu_toolkit.train.finetune",
    "FinetuneResult": "nlu_toolkit.train.finetune",
    "TrainProgress": "nlu_toolkit.train.finetune",
    "evaluate": "nlu_toolkit.train.evaluate",
    "EvaluationResult": "nlu_toolkit.train.evaluate",
    "load_metric": "nlu_toolkit.core.metrics",
    "summarize": "nlu_toolkit.tasks.generate",
    "Summarizer": "nlu_toolkit.tasks.generate",
    "translate": "nlu_toolkit.tasks.generate",
    "Translator": "nlu_toolkit.tasks.generate",
    "generate": "nlu_toolkit.tasks.generate",
    "Generator": "nlu_toolkit.tasks.generate",
    "inspect_text": "nlu_toolkit.tasks.inspect",
    "Inspector": "nlu_toolkit.tasks.inspect",
}
_ERRORS = (
    "NluError",
    "InputError",
    "UsageError",
    "ModelNotAvailable",
    "ModelMismatch",
    "ModelCorrupted",
    "MissingExtra",
    "IndexCorrupted",
    "TrainingDataError",
)

if TYPE_CHECKING:
    from nlu_toolkit.core.cluster import cluster_embeddings
    from nlu_toolkit.core.metrics import load_metric
    from nlu_toolkit.core.retrieval import community_detection, paraphrase_mining_embeddings, semantic_search
    from nlu_toolkit.engine.options import RunOptions
    from nlu_toolkit.errors import (
        IndexCorrupted,
        InputError,
        MissingExtra,
        ModelCorrupted,
        ModelMismatch,
        ModelNotAvailable,
        NluError,
        TrainingDataError,
        UsageError,
    )
    from nlu_toolkit.io.readers import iter_records
    from nlu_toolkit.io.run_manifest import build_manifest, write_manifest
    from nlu_toolkit.io.writers import write_records
    from nlu_toolkit.models.embedded import embedded_path
    from nlu_toolkit.models.manage import list_models, pull, verify
    from nlu_toolkit.models.resolver import ModelInfo, load_model
    from nlu_toolkit.search.api import open_index as open_index
    from nlu_toolkit.search.api import search as search
    from nlu_toolkit.search.index import SemanticIndex
    from nlu_toolkit.tasks.classify import Classifier, classify
    from nlu_toolkit.tasks.cluster import cluster, dedupe
    from nlu_toolkit.tasks.embed import Embedder, embed, similarity
    from nlu_toolkit.tasks.generate import Generator, Summarizer, Translator, generate, summarize, translate
    from nlu_toolkit.tasks.inspect import Inspector, inspect_text
    from nlu_toolkit.tasks.ner import EntityRecognizer, ner
    from nlu_toolkit.tasks.qa import QuestionAnswerer, qa
    from nlu_toolkit.train.evaluate import EvaluationResult, evaluate
    from nlu_toolkit.train.finetune import FinetuneResult, TrainProgress, finetune


def __getattr__(name: str) -> Any:
    if name in _ERRORS:
        return getattr(importlib.import_module("nlu_toolkit.errors"), name)
    if name == "search":  # the package is itself the callable search() (see nlu_toolkit/search/__init__.py)
        return importlib.import_module("nlu_toolkit.search")
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'nlu_toolkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*_EXPORTS, *_ERRORS, "__version__"])


__all__ = [
    "Classifier",
    "Embedder",
    "EntityRecognizer",
    "EvaluationResult",
    "FinetuneResult",
    "Generator",
    "IndexCorrupted",
    "InputError",
    "Inspector",
    "MissingExtra",
    "ModelCorrupted",
    "ModelInfo",
    "ModelMismatch",
    "ModelNotAvailable",
    "NluError",
    "QuestionAnswerer",
    "RunOptions",
    "SemanticIndex",
    "Summarizer",
    "TrainProgress",
    "TrainingDataError",
    "Translator",
    "UsageError",
    "build_manifest",
    "classify",
    "cluster",
    "cluster_embeddings",
    "community_detection",
    "dedupe",
    "embed",
    "embedded_path",
    "evaluate",
    "finetune",
    "generate",
    "inspect_text",
    "iter_records",
    "list_models",
    "load_metric",
    "load_model",
    "ner",
    "paraphrase_mining_embeddings",
    "pull",
    "qa",
    "semantic_search",
    "similarity",
    "summarize",
    "translate",
    "verify",
    "write_manifest",
    "write_records",
]
