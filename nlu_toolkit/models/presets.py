"""Named presets: the well-known default model of each task."""

from __future__ import annotations

from dataclasses import dataclass

from nlu_toolkit.models.embedded import EMBEDDED_NAME


@dataclass(frozen=True)
class Preset:
    name: str
    model: str
    task: str
    used_by: str
    embedded: bool = False


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "sentiment",
            "distilbert/distilbert-base-uncased-finetuned-sst-2-english",
            "text-classification",
            "nlu classify",
        ),
        Preset(
            "zero-shot-nli", "facebook/bart-large-mnli", "zero-shot", "nlu classify --labels ... --model zero-shot-nli"
        ),
        Preset("ner", "dslim/bert-base-NER", "token-classification", "nlu ner"),
        Preset("qa", "distilbert/distilbert-base-cased-distilled-squad", "question-answering", "nlu qa"),
        Preset(
            "rerank", "cross-encoder/ms-marco-MiniLM-L6-v2", "cross-encoder", "nlu embed --search ... --rerank rerank"
        ),
        Preset("summarize", "sshleifer/distilbart-cnn-12-6", "summarization", "nlu summarize"),
        Preset("translate-en-de", "Helsinki-NLP/opus-mt-en-de", "translation", "nlu translate --source en --target de"),
        Preset("generate", "distilbert/distilgpt2", "text-generation", "nlu generate"),
        Preset("embedded", EMBEDDED_NAME, "sentence-embedding", "nlu embed, nlu classify --labels", embedded=True),
    )
}

#: The preset each task uses when no --model is given.
TASK_DEFAULTS = {
    "text-classification": "sentiment",
    "token-classification": "ner",
    "question-answering": "qa",
    "sentence-embedding": "embedded",
    "zero-shot": "embedded",
    "cross-encoder": "rerank",
    "summarization": "summarize",
    "translation": "translate-en-de",
    "text-generation": "generate",
}

#: What to suggest when a task's default cannot be loaded offline.
OFFLINE_ALTERNATIVES = {
    "text-classification": "or classify offline with the embedded model: nlu classify --labels a,b,c",
    "zero-shot": "or leave {=model} out to use the embedded model",
}
