"""The model resolver: one place that turns what the user typed into a loaded model.

Order of resolution for a model spec:

1. an existing local folder;
2. the embedded all-MiniLM-L6-v2 (its aliases, or no spec for embedding tasks);
3. a preset name (``sentiment``, ``ner``, ...), which names a hub id;
4. a hub id, through the HF cache; downloaded only when the hub is reachable
   and ``HF_HUB_OFFLINE`` is not set.

Loaded models are cached per process by (spec, task, device), so a server or a
long job loads each model once. Weights load from safetensors only (every folder
is checked by `weights.require_safetensors` before anything is loaded: pickle-only
folders raise `UnsafeModel`), and ``trust_remote_code`` is off unless asked for.
"""

from __future__ import annotations

import hashlib
import os
import socket
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from nlu_toolkit.core.device import cast_for_inference, resolve_device
from nlu_toolkit.errors import ModelNotAvailable, UsageError
from nlu_toolkit.io.checksums import hash_stream
from nlu_toolkit.models.cache import ModelCache
from nlu_toolkit.models.embedded import EMBEDDED_ALIASES, EMBEDDED_NAME, EMBEDDED_SHA256, embedded_path
from nlu_toolkit.models.presets import OFFLINE_ALTERNATIVES, PRESETS, TASK_DEFAULTS
from nlu_toolkit.models.weights import require_safetensors, weights_files

TASKS = (
    "text-classification",
    "zero-shot",
    "token-classification",
    "question-answering",
    "sentence-embedding",
    "cross-encoder",
    "summarization",
    "translation",
    "text-generation",
)

#: Files fetched from the hub: configs, tokenizers and safetensors weights, never pickles or code.
HUB_PATTERNS = ["*.json", "*.safetensors", "*.txt", "*.model", "*.tiktoken", "*/*.json", "*/*.safetensors"]

# Heads each task needs; a checkpoint without one would get a random head.
_HEADS = {
    "text-classification": "ForSequenceClassification",
    "zero-shot": "ForSequenceClassification",
    "token-classification": "ForTokenClassification",
    "question-answering": "ForQuestionAnswering",
    # Seq2seq heads: BartForConditionalGeneration, T5ForConditionalGeneration, MarianMTModel, ...
    "summarization": ("ForConditionalGeneration", "MTModel"),
    "translation": ("ForConditionalGeneration", "MTModel"),
    "text-generation": ("ForCausalLM", "LMHeadModel"),
}


@dataclass(frozen=True)
class ModelInfo:
    """What was actually loaded: every output can report it."""

    spec: str | None
    name: str
    source: str  # "local" | "embedded" | "hub"
    path: str
    task: str
    device: str = "cpu"
    dtype: str = "float32"
    revision: str | None = None
    sha256: str | None = None
    kind: str = "transformers"  # or "sentence-transformers"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        parts = [self.source]
        if self.revision:
            parts.append(f"revision {self.revision[:10]}")
        elif self.sha256:
            parts.append(f"sha256 {self.sha256[:12]}")
        return f"{self.name} ({', '.join([*parts, self.device])})"


@dataclass
class LoadedModel:
    """A model, its tokenizer and the record of where they came from."""

    model: Any
    tokenizer: Any
    info: ModelInfo
    extra: dict[str, Any] = field(default_factory=dict)


def hub_reachable(timeout: float = 3.0) -> bool:
    """Quick TCP check of the hub endpoint.

    huggingface_hub retries an unreachable host for ~25 s before failing; this
    answers in milliseconds on an air-gapped machine.
    """
    from huggingface_hub import constants

    url = urlparse(constants.ENDPOINT)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "huggingface.co", port), timeout=timeout):
            return True
    except OSError:
        return False


def is_offline() -> bool:
    from huggingface_hub import is_offline_mode

    return bool(is_offline_mode()) or os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}


def cached_snapshot(repo_id: str, revision: str | None = None) -> Path | None:
    """The HF-cache snapshot folder of ``repo_id``, or None when it is not cached."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

    try:
        return Path(snapshot_download(repo_id, revision=revision, local_files_only=True))
    except (LocalEntryNotFoundError, HFValidationError, OSError):
        return None


def _not_available(repo_id: str, task: str, reason: str) -> ModelNotAvailable:
    preset = next((p.name for p in PRESETS.values() if p.model == repo_id), repo_id)
    hint = f"pass {{=model}} PATH to a local model folder, or run `nlu models pull {preset}` on a connected machine and copy its HF cache here"
    if task in OFFLINE_ALTERNATIVES:
        hint += f"; {OFFLINE_ALTERNATIVES[task]}"
    return ModelNotAvailable(f"model {repo_id!r} {reason}", hint)


def download(repo_id: str, *, revision: str | None = None, local_dir: str | None = None) -> Path:
    """Fetch ``repo_id`` (configs, tokenizer, safetensors) into the HF cache or ``local_dir``."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HFValidationError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    try:
        return Path(snapshot_download(repo_id, revision=revision, allow_patterns=HUB_PATTERNS, local_dir=local_dir))
    except GatedRepoError as e:
        raise ModelNotAvailable(
            f"model {repo_id!r} is gated", "accept its terms on the hub and run `hf auth login`"
        ) from e
    except (RepositoryNotFoundError, RevisionNotFoundError, HFValidationError) as e:
        raise ModelNotAvailable(f"no model {repo_id!r} on the hub", "check the id, or pass a local folder") from e


def locate(model_spec: str | None, task: str, *, revision: str | None = None) -> ModelInfo:
    """Find where ``model_spec`` lives without loading it (device is filled in by `load_model`)."""
    if task not in TASKS:
        raise UsageError(f"unknown task {task!r}", f"use one of: {', '.join(TASKS)}")
    spec = model_spec
    name = spec or PRESETS[TASK_DEFAULTS[task]].model
    local = Path(name).expanduser()
    if local.is_dir():
        return ModelInfo(spec, str(local), "local", str(local.resolve()), task)
    if name in EMBEDDED_ALIASES:
        return ModelInfo(spec, EMBEDDED_NAME, "embedded", str(embedded_path()), task, sha256=EMBEDDED_SHA256)
    if name in PRESETS:
        name = PRESETS[name].model
        if name in EMBEDDED_ALIASES:
            return ModelInfo(spec, EMBEDDED_NAME, "embedded", str(embedded_path()), task, sha256=EMBEDDED_SHA256)
    # Something path-like that is not a folder is a typo, not a hub id: say so instead of asking the hub.
    if name.startswith((".", "/", "~")) or name.count("/") > 1 or (os.sep != "/" and os.sep in name):
        raise ModelNotAvailable(f"no model folder {name!r}", "check the path given as {=model}")
    snapshot = cached_snapshot(name, revision)
    if snapshot is None:
        if is_offline():
            raise _not_available(name, task, "is not in the local HF cache and HF_HUB_OFFLINE is set")
        if not hub_reachable():
            raise _not_available(name, task, "is not in the local HF cache and the hub cannot be reached (offline)")
        snapshot = download(name, revision=revision)
    return ModelInfo(spec, name, "hub", str(snapshot), task, revision=snapshot.name)


def is_sentence_transformer(path: str | Path) -> bool:
    return (Path(path) / "modules.json").is_file()


def is_nli(config: Any) -> bool:
    """True when the config's labels include entailment, as NLI models' do."""
    labels = {str(v).lower() for v in (getattr(config, "id2label", None) or {}).values()}
    return any(label.startswith("entail") for label in labels)


_CACHE: ModelCache[LoadedModel] = ModelCache()


def load_model(
    model_spec: str | None,
    task: str,
    *,
    device: str | None = "auto",
    trust_remote_code: bool = False,
    revision: str | None = None,
) -> LoadedModel:
    """Resolve, load and cache a model for ``task`` on ``device``.

    Raises:
        ModelNotAvailable: the model cannot be found or downloaded, or has no safetensors weights.
        UsageError: the model lacks the head ``task`` needs, or the device is unavailable.
    """
    resolved_device = resolve_device(device)

    def load() -> LoadedModel:
        info = locate(model_spec, task, revision=revision)
        if task == "sentence-embedding" and info.source == "local":
            from nlu_toolkit.models.static import is_static_folder, load_static

            if is_static_folder(info.path):  # a Model2Vec folder (nlu distill), known by its config
                return load_static(info)
        if task == "sentence-embedding" or (task == "zero-shot" and is_sentence_transformer(info.path)):
            return _load_sentence_transformer(info, resolved_device, trust_remote_code)
        if task == "cross-encoder":
            return _load_cross_encoder(info, resolved_device, trust_remote_code)
        return _load_transformers(info, task, resolved_device, trust_remote_code)

    return _CACHE.get_or_load((model_spec, task, resolved_device, trust_remote_code, revision), load)


def clear_cache() -> None:
    """Forget every loaded model (tests use this to free memory)."""
    _CACHE.clear()


def load_error(info: ModelInfo, e: Exception) -> ModelNotAvailable:
    """The typed error for a model folder that will not load, with the loader's first line as reason."""
    reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return ModelNotAvailable(
        f"cannot load model {info.name!r} from {info.path}: {reason}",
        "check that the folder holds config.json, a tokenizer and model.safetensors",
    )


def _load_st_class(cls: Any, info: ModelInfo, device: str, trust_remote_code: bool, kind: str) -> LoadedModel:
    """A sentence-transformers class (``SentenceTransformer``, ``CrossEncoder``) loaded offline, safetensors only."""
    require_safetensors(info.path)
    try:
        model = cls(
            info.path,
            device=device,
            trust_remote_code=trust_remote_code,
            local_files_only=True,
            model_kwargs={"use_safetensors": True},
        )
    except Exception as e:  # ST wraps many loader errors; all mean "this folder will not load"
        raise load_error(info, e) from e
    model.eval()
    cast_for_inference(model, device)
    return LoadedModel(model, model.tokenizer, with_device(info, device, kind, model))


def _load_cross_encoder(info: ModelInfo, device: str, trust_remote_code: bool) -> LoadedModel:
    from sentence_transformers import CrossEncoder

    return _load_st_class(CrossEncoder, info, device, trust_remote_code, "cross-encoder")


_WEIGHTS_SHA: dict[tuple[Any, ...], str] = {}


def weights_sha256(info: ModelInfo) -> str:
    """A checksum of the weights a model loads: its safetensors files (`weights.weights_files`), sorted,
    each hashed as relative path then content.

    It identifies the model an index was built with, whatever name it was loaded by.
    The embedded model's checksum is known; others are hashed once per process.

    Raises:
        UnsafeModel: the folder has pickle weights only (it has no checksum: it cannot build or query an index).
        ModelNotAvailable: the folder has no weights.
    """
    if info.source == "embedded" and info.sha256:
        return info.sha256
    root = Path(info.path).resolve()
    files = weights_files(root)
    stats = [f.stat() for f in files]
    key = (str(root), tuple((str(f), s.st_size, s.st_mtime_ns) for f, s in zip(files, stats, strict=True)))
    if key not in _WEIGHTS_SHA:
        digest = hashlib.sha256()
        for file in files:
            digest.update(os.path.relpath(file, root).encode())
            with open(file, "rb") as f:
                hash_stream(f, digest)
        _WEIGHTS_SHA[key] = digest.hexdigest()
    return _WEIGHTS_SHA[key]


def _load_sentence_transformer(info: ModelInfo, device: str, trust_remote_code: bool) -> LoadedModel:
    from sentence_transformers import SentenceTransformer

    if (
        not is_sentence_transformer(info.path)
        and info.source == "local"
        and not (Path(info.path) / "config.json").is_file()
    ):
        raise ModelNotAvailable(
            f"{info.path} is not a model folder", "give a sentence-transformers or transformers model folder"
        )
    return _load_st_class(SentenceTransformer, info, device, trust_remote_code, "sentence-transformers")


def _load_transformers(info: ModelInfo, task: str, device: str, trust_remote_code: bool) -> LoadedModel:
    from transformers import (
        AutoConfig,
        AutoModelForCausalLM,
        AutoModelForQuestionAnswering,
        AutoModelForSeq2SeqLM,
        AutoModelForSequenceClassification,
        AutoModelForTokenClassification,
        AutoTokenizer,
    )

    classes = {
        "text-classification": AutoModelForSequenceClassification,
        "zero-shot": AutoModelForSequenceClassification,
        "token-classification": AutoModelForTokenClassification,
        "question-answering": AutoModelForQuestionAnswering,
        "summarization": AutoModelForSeq2SeqLM,
        "translation": AutoModelForSeq2SeqLM,
        "text-generation": AutoModelForCausalLM,
    }
    require_safetensors(info.path)  # before anything is read: pickle weights are never loaded
    try:
        config = AutoConfig.from_pretrained(info.path, trust_remote_code=trust_remote_code)
    except Exception as e:
        raise load_error(info, e) from e
    head = _HEADS[task]
    heads = head if isinstance(head, tuple) else (head,)
    archs = list(getattr(config, "architectures", None) or [])
    if archs and not any(a.endswith(h) for a in archs for h in heads):
        what = {
            "text-classification": "classification",
            "zero-shot": "classification",
            "token-classification": "token-classification (NER)",
            "question-answering": "question-answering",
            "summarization": "sequence-to-sequence",
            "translation": "sequence-to-sequence",
            "text-generation": "causal language-model",
        }[task]
        hint = "use a model fine-tuned for it"
        if task == "text-classification":
            hint = "give {=labels} (e.g. a,b,c) for zero-shot, " + hint
        raise UsageError(f"model {info.name!r} has no {what} head (architectures: {', '.join(archs)})", hint)
    if task == "zero-shot" and not is_nli(config):
        raise UsageError(
            f"model {info.name!r} is not an NLI model (its labels have no 'entailment')",
            "give an NLI model such as facebook/bart-large-mnli, or leave {=model} out to use the embedded model",
        )
    try:
        tokenizer = AutoTokenizer.from_pretrained(info.path, trust_remote_code=trust_remote_code)
        model = classes[task].from_pretrained(info.path, use_safetensors=True, trust_remote_code=trust_remote_code)
    except Exception as e:
        raise load_error(info, e) from e
    # Offsets (NER, QA, windows) need a fast tokenizer; generation only encodes and decodes.
    if task not in ("summarization", "translation", "text-generation") and not getattr(tokenizer, "is_fast", False):
        raise UsageError(f"model {info.name!r} has no fast tokenizer", "character offsets need a tokenizer.json")
    model.to(device)
    model.eval()
    cast_for_inference(model, device)
    info = with_device(info, device, "transformers", model)
    return LoadedModel(model, tokenizer, info)


def with_device(info: ModelInfo, device: str, kind: str, model: Any) -> ModelInfo:
    """``info`` with the ``device``, ``kind`` and the dtype of ``model``'s weights filled in."""
    try:
        dtype = str(next(model.parameters()).dtype).replace("torch.", "")
    except (StopIteration, AttributeError):
        dtype = "float32"
    return ModelInfo(**{**info.to_dict(), "device": device, "dtype": dtype, "kind": kind})


# The old private names, kept for code that still imports them.
_load_error = load_error
_with_device = with_device
