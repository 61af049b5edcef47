"""Shared fixtures: tiny random models built once per session, data folders, an offline environment.

The tiny models come from `nlu_toolkit.models.testing.build_model` (BERT, 64-token limit, a
WordPiece vocabulary in which unknown words split into subwords). They load in
milliseconds, so integration and CLI tests run real pipelines on them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from lance_fixtures import lance_table  # noqa: F401  (the shared Lance index fixture)

ROOT = Path(__file__).resolve().parents[1]

NLI_LABELS = ["contradiction", "neutral", "entailment"]
MULTI_LABELS = ["urgent", "billing", "technical"]


@pytest.fixture(scope="session", autouse=True)
def offline_env(tmp_path_factory: pytest.TempPathFactory):
    """Never reach for the hub, and extract the embedded MiniLM once per session into a temp cache.

    The extraction (~90 MB) is shared by every slow test of the session and removed at the end.
    """
    cache = tmp_path_factory.mktemp("nlu-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("NLU_CACHE", str(cache))
        yield cache
    shutil.rmtree(cache, ignore_errors=True)


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tiny-models")


def _build(models_dir: Path, name: str, kind: str, labels: list[str] | None = None, **kwargs) -> str:
    from nlu_toolkit.models.testing import build_model

    folder = models_dir / name
    if not (folder / "config.json").is_file():
        build_model(folder, kind, labels, **kwargs)
    return str(folder)


@pytest.fixture(scope="session")
def cls_model(models_dir: Path) -> str:
    """A tiny sentiment-style classifier: NEGATIVE / POSITIVE."""
    return _build(models_dir, "cls", "sequence", ["NEGATIVE", "POSITIVE"])


@pytest.fixture(scope="session")
def multilabel_model(models_dir: Path) -> str:
    """A tiny multi-label classifier (problem_type multi_label_classification)."""
    return _build(models_dir, "multilabel", "sequence", MULTI_LABELS, problem_type="multi_label_classification")


@pytest.fixture(scope="session")
def nli_model(models_dir: Path) -> str:
    """A tiny NLI classifier: contradiction / neutral / entailment."""
    return _build(models_dir, "nli", "sequence", NLI_LABELS)


@pytest.fixture(scope="session")
def ner_model(models_dir: Path) -> str:
    """A tiny token classifier with the CoNLL-03 tags."""
    from nlu_toolkit.models.testing import CONLL_LABELS

    return _build(models_dir, "ner", "token", CONLL_LABELS)


@pytest.fixture(scope="session")
def qa_model(models_dir: Path) -> str:
    """A tiny extractive-QA model."""
    return _build(models_dir, "qa", "qa")


@pytest.fixture(scope="session")
def st_model(models_dir: Path) -> str:
    """A tiny sentence-transformers model (BERT + mean pooling + normalize), no classification head."""
    return _build(models_dir, "st", "sentence")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The project's sample files (data/)."""
    return ROOT / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The read-only public data sets in ../shared/data; skips the test when absent."""
    path = ROOT.parent / "shared" / "data"
    if not path.is_dir():
        pytest.skip("../shared/data is absent")
    return path


@pytest.fixture
def empty_hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty HF cache, so hub models are missing whatever this machine has cached."""
    import huggingface_hub.constants as constants

    cache = tmp_path / "hf-hub-cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    return cache


@pytest.fixture(scope="session")
def st_model_other(models_dir: Path) -> str:
    """Another tiny sentence-transformers model, same architecture as `st_model` but another seed."""
    return _build(models_dir, "st-seed1", "sentence", seed=1)


@pytest.fixture(scope="session")
def st_model_unnormalized(models_dir: Path, st_model: str) -> str:
    """`st_model` without its Normalize module: same weights, vectors not of unit length."""
    import json

    folder = models_dir / "st-unnormalized"
    if not (folder / "modules.json").is_file():
        shutil.copytree(st_model, folder)
        modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
        kept = [m for m in modules if not m["type"].endswith("Normalize")]
        assert len(kept) == len(modules) - 1
        (folder / "modules.json").write_text(json.dumps(kept, indent=2), encoding="utf-8")
    return str(folder)


@pytest.fixture(scope="session")
def cross_encoder_model(models_dir: Path) -> str:
    """A tiny cross-encoder (one-logit sequence classifier), loadable by `sentence_transformers.CrossEncoder`."""
    return _build(models_dir, "cross-encoder", "sequence", ["score"])


@pytest.fixture(scope="session")
def st_model_long(models_dir: Path) -> str:
    """A tiny sentence-transformers base with 256 positions: QA windows of question + context need room."""
    return _build(models_dir, "st-256", "sentence", max_length=256)


def _build_generative(models_dir: Path, name: str, kind: str, **kwargs) -> str:
    from nlu_toolkit.models.testing import build_generative_model

    folder = models_dir / name
    if not (folder / "config.json").is_file():
        build_generative_model(folder, kind, **kwargs)
    return str(folder)


@pytest.fixture(scope="session")
def bart_model(models_dir: Path) -> str:
    """A tiny BART summarizer whose generation defaults (min 12, max 20 tokens) mimic distilbart-cnn's."""
    return _build_generative(models_dir, "bart", "bart", max_length=64, min_new=12, max_new=20)


@pytest.fixture(scope="session")
def t5_model(models_dir: Path) -> str:
    return _build_generative(models_dir, "t5", "t5", max_length=64)


@pytest.fixture(scope="session")
def marian_model(models_dir: Path) -> str:
    """A tiny Marian translation model (the architecture of Helsinki-NLP/opus-mt-*)."""
    return _build_generative(models_dir, "marian", "marian", max_length=64)


@pytest.fixture(scope="session")
def gpt2_model(models_dir: Path) -> str:
    return _build_generative(models_dir, "gpt2", "gpt2", max_length=64)


def _pickled(models_dir: Path, source: str, name: str) -> str:
    """A copy of a tiny model whose weights are pickle only (``pytorch_model.bin``): what loaders must refuse."""
    from nlu_toolkit.models.testing import resave_as_pickle

    folder = models_dir / name
    if not folder.is_dir():
        resave_as_pickle(source, folder)
    return str(folder)


@pytest.fixture(scope="session")
def st_pickle(models_dir: Path, st_model: str) -> str:
    return _pickled(models_dir, st_model, "st-pickle")


@pytest.fixture(scope="session")
def st_pickle_other(models_dir: Path, st_model_other: str) -> str:
    return _pickled(models_dir, st_model_other, "st-seed1-pickle")


@pytest.fixture(scope="session")
def ce_pickle(models_dir: Path, cross_encoder_model: str) -> str:
    return _pickled(models_dir, cross_encoder_model, "cross-encoder-pickle")


@pytest.fixture(scope="session")
def cls_pickle(models_dir: Path, cls_model: str) -> str:
    return _pickled(models_dir, cls_model, "cls-pickle")
