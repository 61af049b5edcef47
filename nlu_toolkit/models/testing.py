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


GENERATIVE_KINDS = ("gpt2", "bart", "t5", "marian")


def build_bpe_tokenizer(folder: str | Path, max_length: int, *, add_bos_eos: bool):
    """A byte-level BPE tokenizer trained on the word list (any text encodes; nothing is unknown).

    ``add_bos_eos`` wraps every input in ``<s> ... </s>`` (BART-style encoders); GPT-2 style adds nothing.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<pad>", "</s>", "<s>", "<unk>"]
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    corpus = [" ".join(WORDS[i : i + 8]) for i in range(0, len(WORDS), 3)] * 4
    tok.train_from_iterator(corpus, trainer)
    if add_bos_eos:
        tok.post_processor = processors.TemplateProcessing(
            single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 2), ("</s>", 1)]
        )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        eos_token="</s>",
        bos_token="<s>",
        unk_token="<unk>",
        model_max_length=max_length,
    )
    fast.save_pretrained(folder)
    return fast


def build_generative_model(
    folder: str | Path,
    kind: str,
    *,
    max_length: int = 128,
    seed: int = 0,
    min_new: int | None = None,
    max_new: int | None = None,
) -> Path:
    """Build and save a tiny random generative model: ``gpt2`` (causal) or ``bart``/``t5``/``marian`` (seq2seq).

    ``min_new``/``max_new`` go into the generation config as ``min_length``/``max_length``, the way
    distilbart-cnn ships its own (min 56, max 142) defaults.
    """
    import torch
    from transformers import (
        BartConfig,
        BartForConditionalGeneration,
        GenerationConfig,
        GPT2Config,
        GPT2LMHeadModel,
        MarianConfig,
        MarianMTModel,
        T5Config,
        T5ForConditionalGeneration,
    )

    if kind not in GENERATIVE_KINDS:
        raise ValueError(f"kind must be one of {GENERATIVE_KINDS}")
    folder = Path(folder)
    tokenizer = build_bpe_tokenizer(folder, max_length, add_bos_eos=kind == "bart")
    n, pad, eos, bos = len(tokenizer), tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.bos_token_id
    torch.manual_seed(seed)
    seq2seq = {"d_model": 32, "encoder_layers": 2, "decoder_layers": 2, "encoder_attention_heads": 2}
    seq2seq |= {"decoder_attention_heads": 2, "encoder_ffn_dim": 64, "decoder_ffn_dim": 64}
    ids = {"pad_token_id": pad, "eos_token_id": eos, "bos_token_id": bos}
    if kind == "gpt2":
        config = GPT2Config(vocab_size=n, n_positions=max_length, n_embd=32, n_layer=2, n_head=2, **ids)
        model = GPT2LMHeadModel(config)
    elif kind == "bart":
        config = BartConfig(
            vocab_size=n, max_position_embeddings=max_length, decoder_start_token_id=eos, **ids, **seq2seq
        )
        model = BartForConditionalGeneration(config)
    elif kind == "marian":
        config = MarianConfig(
            vocab_size=n, max_position_embeddings=max_length, decoder_start_token_id=pad, **ids, **seq2seq
        )
        model = MarianMTModel(config)
    else:
        config = T5Config(
            vocab_size=n, d_model=32, d_ff=64, d_kv=16, num_layers=2, num_heads=2, decoder_start_token_id=pad, **ids
        )
        model = T5ForConditionalGeneration(config)
    generation = GenerationConfig(
        pad_token_id=pad,
        eos_token_id=eos,
        bos_token_id=bos,
        decoder_start_token_id=getattr(config, "decoder_start_token_id", None),
    )
    if min_new is not None:
        generation.min_length = min_new
    if max_new is not None:
        generation.max_length = max_new
    model.generation_config = generation
    model.eval()
    model.save_pretrained(folder)
    return folder


def resave_as_pickle(source: str | Path, folder: str | Path) -> Path:
    """Copy the model folder ``source`` to ``folder`` with every ``*.safetensors`` replaced by a
    ``pytorch_model.bin`` pickle (the legacy format the toolkit refuses to load)."""
    import shutil

    import torch
    from safetensors.torch import load_file

    folder = Path(folder)
    shutil.copytree(source, folder)
    for weights in sorted(folder.rglob("*.safetensors")):
        torch.save(load_file(weights), weights.with_name("pytorch_model.bin"))
        weights.unlink()
    return folder
