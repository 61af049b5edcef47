"""Tiny, randomly initialised models for tests and benchmarks, built offline in seconds.

A small BertConfig plus a WordPiece vocabulary made here: whole words from a
short word list, and single characters with their ``##`` continuations, so any
unknown word splits into subwords (``Megatron`` -> ``Mega`` ``##tron``-style
pieces), which the NER tests rely on.
"""

from __future__ import annotations

from pathlib import Path

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = [
    "the",
    "a",
    "an",
    "and",
    "or",
    "of",
    "to",
    "in",
    "on",
    "at",
    "for",
    "with",
    "is",
    "was",
    "are",
    "be",
    "it",
    "this",
    "that",
    "i",
    "you",
    "he",
    "she",
    "we",
    "they",
    "good",
    "bad",
    "great",
    "awful",
    "movie",
    "film",
    "story",
    "plot",
    "actor",
    "actors",
    "love",
    "loved",
    "hate",
    "boring",
    "fun",
    "paris",
    "london",
    "berlin",
    "john",
    "mary",
    "acme",
    "corp",
    "city",
    "river",
    "bank",
    "money",
    "who",
    "what",
    "where",
    "when",
    "wrote",
    "written",
    "born",
    "lives",
    "works",
    "capital",
    "france",
    "germany",
    "england",
    "question",
    "answer",
    "mega",
    "tron",
    "bus",
    "zen",
]
CONLL_LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]


def vocabulary() -> list[str]:
    chars = [chr(c) for c in range(33, 127)]
    pieces = [f"##{c}" for c in chars]
    seen: dict[str, None] = dict.fromkeys(SPECIALS + WORDS + [w.capitalize() for w in WORDS] + chars + pieces)
    return list(seen)


def build_tokenizer(folder: str | Path, max_length: int = 64):
    """Write a BERT WordPiece tokenizer (tokenizer.json) to ``folder``."""
    from transformers import BertTokenizer

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vocab = {token: i for i, token in enumerate(vocabulary())}
    # transformers 5 builds the tokenizers-library WordPiece model from this dict.
    tokenizer = BertTokenizer(vocab=vocab, do_lower_case=False, model_max_length=max_length)
    tokenizer.save_pretrained(folder)
    return tokenizer


def _config(n_vocab: int, max_length: int, **kwargs):
    from transformers import BertConfig

    return BertConfig(
        vocab_size=n_vocab,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=max_length,
        # A wide init gives peaked, varied predictions, so tests see real entities and labels.
        initializer_range=0.5,
        **kwargs,
    )


def build_model(
    folder: str | Path,
    kind: str,
    labels: list[str] | None = None,
    *,
    max_length: int = 64,
    seed: int = 0,
    problem_type: str | None = None,
) -> Path:
    """Build and save a tiny random BERT for ``kind``.

    ``kind`` is ``sequence`` (classification), ``token`` (NER), ``qa`` or
    ``sentence`` (a sentence-transformers model: BERT + mean pooling + normalize).
    """
    import torch
    from transformers import (
        BertForQuestionAnswering,
        BertForSequenceClassification,
        BertForTokenClassification,
        BertModel,
    )

    folder = Path(folder)
    tokenizer = build_tokenizer(folder, max_length)
    torch.manual_seed(seed)
    extra: dict[str, object] = {}
    if labels is not None:
        extra = {
            "id2label": dict(enumerate(labels)),
            "label2id": {x: i for i, x in enumerate(labels)},
            "num_labels": len(labels),
        }
    if problem_type:
        extra["problem_type"] = problem_type
    config = _config(len(tokenizer), max_length, **extra)
    classes = {
        "sequence": BertForSequenceClassification,
        "token": BertForTokenClassification,
        "qa": BertForQuestionAnswering,
        "sentence": BertModel,
    }
    model = classes[kind](config)
    model.eval()
    model.save_pretrained(folder)
    if kind == "sentence":
        from sentence_transformers import SentenceTransformer, models

        transformer = models.Transformer(str(folder), max_seq_length=max_length)
        pooling = models.Pooling(transformer.get_embedding_dimension(), "mean")
        st = SentenceTransformer(modules=[transformer, pooling, models.Normalize()], device="cpu")
        st.save(str(folder))
    return folder
