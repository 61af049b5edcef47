"""How a transformer sees a text: its tokens, attention maps and contextual token vectors.

`Inspector` loads any transformers encoder (by default the transformer inside the
embedded all-MiniLM-L6-v2) with eager attention, so attention weights come back
(the sdpa kernels return none). One text is tokenized once and run once; the
tokens, words, vectors and attention of the last few texts are kept, so asking
for several views of one text costs one forward pass.

The pure helpers (word grouping from offsets, finding a word's tokens, mean
pooling, cosine, layer and head checks, head averaging) need no model.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nlu_toolkit.errors import InputError, ModelNotAvailable, UsageError
from nlu_toolkit.resolver import ModelInfo, locate
from nlu_toolkit.tasks.common import Inputs, as_records, token_limit

#: Image formats ``--attention FILE`` can write, by the file's suffix.
PLOT_FORMATS = ("png", "svg", "pdf")
#: Texts whose tokens and forward outputs an `Inspector` keeps.
_KEEP = 4


# --- pure helpers ---------------------------------------------------------------------------------


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    """Shrink ``[start, end)`` past surrounding whitespace (some tokenizers count a leading space)."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def token_spans(text: str, offsets: Sequence[Sequence[int]], special: Sequence[bool]) -> list[tuple[int, int] | None]:
    """Each token's character span in ``text``, or None for special and empty tokens."""
    spans: list[tuple[int, int] | None] = []
    for (start, end), is_special in zip(offsets, special, strict=True):
        start, end = _trim(text, int(start), int(end))
        spans.append(None if is_special or end <= start else (start, end))
    return spans


def group_words(
    text: str,
    offsets: Sequence[Sequence[int]],
    special: Sequence[bool],
    word_ids: Sequence[int | None] | None = None,
) -> list[dict[str, Any]]:
    """The words of ``text`` and the tokens that make them up: ``[{"word", "start", "end", "tokens"}]``.

    Tokens are grouped by the tokenizer's ``word_ids`` (its pre-tokenizer's words, so ``river.`` is
    ``river`` and ``.``) when given; otherwise, or when the tokenizer gives none, by whitespace-separated
    chunk of the text. Special tokens and tokens with no characters belong to no word. ``word`` is
    always ``text[start:end]``.
    """
    spans = token_spans(text, offsets, special)
    use_ids = word_ids is not None and any(w is not None for w, s in zip(word_ids, spans, strict=True) if s)
    keys: list[Any] = []
    for i, span in enumerate(spans):
        if span is None:
            keys.append(None)
        elif use_ids and word_ids is not None and word_ids[i] is not None:
            keys.append(("word", word_ids[i]))
        elif use_ids:
            keys.append(("token", i))  # a token the tokenizer puts in no word: a word of its own
        else:
            # The whitespace chunk the token starts in: count the whitespace runs before it.
            keys.append(("chunk", len(re.findall(r"\s+", text[: span[0]].lstrip()))))
    words: list[dict[str, Any]] = []
    index: dict[Any, int] = {}
    for i, (key, span) in enumerate(zip(keys, spans, strict=True)):
        if key is None or span is None:
            continue
        if key not in index:
            index[key] = len(words)
            words.append({"start": span[0], "end": span[1], "tokens": []})
        word = words[index[key]]
        word["start"], word["end"] = min(word["start"], span[0]), max(word["end"], span[1])
        word["tokens"].append(i)
    return [{"word": text[w["start"] : w["end"]], **w} for w in words]


def token_words(n_tokens: int, words: Sequence[dict[str, Any]]) -> list[int | None]:
    """For each token, the index of the word it belongs to (None for special tokens)."""
    owner: list[int | None] = [None] * n_tokens
    for w, word in enumerate(words):
        for t in word["tokens"]:
            owner[t] = w
    return owner


def find_word(text: str, word: str) -> tuple[int, int] | None:
    """The character span of the first whole-word, case-insensitive occurrence of ``word`` in ``text``."""
    word = word.strip()
    if not word:
        return None
    pattern = r"(?<!\w)" + r"\s+".join(re.escape(part) for part in word.split()) + r"(?!\w)"
    match = re.search(pattern, text, flags=re.IGNORECASE)
    return (match.start(), match.end()) if match else None


def tokens_in_span(spans: Sequence[tuple[int, int] | None], start: int, end: int) -> list[int]:
    """Indices of the tokens whose characters overlap ``[start, end)`` (special tokens never do)."""
    return [i for i, s in enumerate(spans) if s is not None and s[0] < end and s[1] > start]


def mean_pool(vectors: np.ndarray, indices: Sequence[int]) -> np.ndarray:
    """The mean of the rows ``indices`` of ``vectors`` (a word made of several sub-tokens)."""
    if len(indices) == 0:
        raise ValueError("mean_pool needs at least one row")
    return np.asarray(vectors, dtype=np.float64)[list(indices)].mean(axis=0)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two vectors; 0.0 when either is all zeros."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b / norm) if norm > 0 else 0.0


def check_index(value: int | None, count: int, what: str) -> int:
    """``value`` as an index into ``count`` layers or heads (negative counts from the end; None is the last).

    Raises:
        UsageError: naming the valid range.
    """
    if value is None:
        return count - 1
    if not -count <= value < count:
        raise UsageError(
            f"--{what} {value} is out of range: this model has {count} {what}s",
            f"use 0 to {count - 1}, or -1 to -{count} from the end",
        )
    return value % count


def head_matrix(attention: np.ndarray, head: int | None = None) -> np.ndarray:
    """One layer's attention ``(heads, n, n)`` -> ``(n, n)``: head ``head``, or the mean of all heads."""
    attention = np.asarray(attention)
    if head is None:
        return attention.mean(axis=0)
    return attention[check_index(head, attention.shape[0], "head")]


# --- the model ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Encoded:
    """One text as the tokenizer cut it (up to the model's limit)."""

    text: str
    ids: list[int]
    tokens: list[str]
    special: list[bool]
    spans: list[tuple[int, int] | None]
    words: list[dict[str, Any]]
    truncated: bool


@dataclass(frozen=True)
class _Outputs:
    hidden: np.ndarray  # (layers, n, dim): the output of each layer
    attentions: np.ndarray | None  # (layers, heads, n, n)


@dataclass
class _Loaded:
    model: Any
    tokenizer: Any
    info: ModelInfo
    max_seq_length: int | None


_CACHE: dict[tuple[Any, ...], _Loaded] = {}
_LOCK = threading.Lock()


def _transformer_folder(path: Path) -> tuple[Path, int | None]:
    """The folder holding the transformer of a sentence-transformers model (or ``path`` itself), and its
    ``max_seq_length`` when sentence_bert_config.json sets one."""
    folder = path
    modules = path / "modules.json"
    if modules.is_file():
        try:
            entries = json.loads(modules.read_text(encoding="utf-8"))
            first = next(e for e in entries if str(e.get("type", "")).endswith("Transformer"))
            folder = path / first.get("path", "")
        except (ValueError, StopIteration, AttributeError, TypeError):
            folder = path
    limit = None
    config = folder / "sentence_bert_config.json"
    if config.is_file():
        try:
            limit = json.loads(config.read_text(encoding="utf-8")).get("max_seq_length")
        except (ValueError, AttributeError):
            limit = None
    return folder, int(limit) if isinstance(limit, int) and limit > 0 else None


def _load(model_spec: str | None, device: str, trust_remote_code: bool) -> _Loaded:
    from nlu_toolkit.device import resolve_device
    from nlu_toolkit.resolver import _load_error, _with_device

    resolved = resolve_device(device)
    key = (model_spec, resolved, trust_remote_code)
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
    info = locate(model_spec, "sentence-embedding")
    folder, max_seq_length = _transformer_folder(Path(info.path))
    if not (folder / "config.json").is_file():
        raise ModelNotAvailable(f"{info.path} is not a model folder", "give a transformers model folder (config.json)")
    from nlu_toolkit.weights import require_safetensors

    require_safetensors(folder)
    from transformers import AutoModel, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder), trust_remote_code=trust_remote_code)
        model = AutoModel.from_pretrained(
            str(folder),
            use_safetensors=True,
            trust_remote_code=trust_remote_code,
            attn_implementation="eager",  # sdpa returns no attention weights
        )
    except Exception as e:  # loader errors vary by model type; all mean "this folder will not load"
        raise _load_error(info, e) from e
    if not getattr(tokenizer, "is_fast", False):
        raise UsageError(f"model {info.name!r} has no fast tokenizer", "character offsets need a tokenizer.json")
    model.to(resolved)
    model.eval()
    loaded = _Loaded(model, tokenizer, _with_device(info, resolved, "transformers", model), max_seq_length)
    with _LOCK:
        _CACHE[key] = loaded
    return loaded


def clear_cache() -> None:
    """Forget the models loaded for inspection."""
    with _LOCK:
        _CACHE.clear()


class Inspector:
    """A loaded transformer that shows how it sees a text.

    Args:
        model: hub id, local folder or ``embedded`` (default: the embedded all-MiniLM-L6-v2, offline).
            A sentence-transformers folder is read for its transformer; pooling is not applied.
        device: ``auto``, ``cpu``, ``cuda`` or ``mps``.
        max_length: lower the token limit; longer texts are cut (records say ``truncated``).
        trust_remote_code: allow code shipped with a hub model to run.

    Layers count from 0 (the first transformer layer) to ``n_layers - 1``; negative indices count from
    the end and None means the last layer. Vectors of layer ``l`` are that layer's output.
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        device: str | None = "auto",
        max_length: int | None = None,
        trust_remote_code: bool = False,
    ) -> None:
        loaded = _load(model, device or "auto", trust_remote_code)
        self.model, self.tokenizer, self.model_info = loaded.model, loaded.tokenizer, loaded.info
        limit = token_limit(self.tokenizer, self.model, max_length)
        if loaded.max_seq_length is not None:
            limit = min(limit, loaded.max_seq_length)
        self.limit = limit
        config = self.model.config
        text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
        self.n_layers = int(getattr(text_config, "num_hidden_layers", 0) or getattr(text_config, "n_layer", 0))
        self.n_heads = int(getattr(text_config, "num_attention_heads", 0) or getattr(text_config, "n_head", 0) or 0)
        self._seen: dict[str, tuple[_Encoded, _Outputs | None]] = {}

    # -- tokenize and run once per text --

    def _encode(self, text: str) -> _Encoded:
        if text in self._seen:
            return self._seen[text][0]
        try:
            enc = self.tokenizer(
                text,
                truncation=True,
                max_length=self.limit,
                return_offsets_mapping=True,
                return_special_tokens_mask=True,
                return_overflowing_tokens=True,
            )
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as e:  # a tokenizer refusing a text; a Rust panic derives from BaseException
            raise InputError(f"the tokenizer cannot encode the text {text[:40]!r}: {e}", "check the text") from e
        ids = list(enc["input_ids"][0])
        special = [bool(s) for s in enc["special_tokens_mask"][0]]
        offsets = [tuple(o) for o in enc["offset_mapping"][0]]
        words = group_words(text, offsets, special, enc.word_ids(0))
        encoded = _Encoded(
            text=text,
            ids=ids,
            tokens=list(enc.tokens(0)),
            special=special,
            spans=token_spans(text, offsets, special),
            words=words,
            truncated=len(enc["input_ids"]) > 1,
        )
        self._remember(text, encoded, None)
        return encoded

    def _remember(self, text: str, encoded: _Encoded, outputs: _Outputs | None) -> None:
        self._seen.pop(text, None)
        self._seen[text] = (encoded, outputs)
        while len(self._seen) > _KEEP:
            self._seen.pop(next(iter(self._seen)))

    def _run(self, text: str, *, attentions: bool = False) -> tuple[_Encoded, _Outputs]:
        encoded = self._encode(text)
        cached = self._seen.get(text, (encoded, None))[1]
        if cached is not None and (cached.attentions is not None or not attentions):
            return encoded, cached
        import torch

        device = self.model_info.device
        input_ids = torch.tensor([encoded.ids], dtype=torch.long, device=device)
        try:
            with torch.inference_mode():
                out = self.model(
                    input_ids=input_ids,
                    attention_mask=torch.ones_like(input_ids),
                    output_hidden_states=True,
                    output_attentions=attentions,
                    return_dict=True,
                )
        except (TypeError, ValueError) as e:
            raise UsageError(
                f"model {self.model_info.name!r} cannot be inspected: {str(e).splitlines()[0] if str(e) else e!r}",
                "use an encoder model such as BERT, RoBERTa or MiniLM",
            ) from e
        hidden_states = getattr(out, "hidden_states", None) or getattr(out, "encoder_hidden_states", None)
        if not hidden_states:
            raise UsageError(
                f"model {self.model_info.name!r} returns no hidden states", "use an encoder model such as BERT"
            )
        # hidden_states[0] is the embedding output; layer l's output is hidden_states[l + 1].
        hidden = torch.stack(hidden_states[1:])[:, 0].float().cpu().numpy()
        matrices = None
        if attentions:
            maps = getattr(out, "attentions", None) or getattr(out, "encoder_attentions", None)
            if not maps or any(m is None for m in maps):
                raise UsageError(
                    f"model {self.model_info.name!r} returns no attention weights",
                    "use a model whose attention supports the eager implementation",
                )
            matrices = torch.stack(list(maps))[:, 0].float().cpu().numpy()
        outputs = _Outputs(hidden, matrices)
        self._remember(text, encoded, outputs)
        if self.n_layers <= 0:
            self.n_layers = hidden.shape[0]
        if matrices is not None:
            self.n_heads = matrices.shape[1]
        return encoded, outputs

    def layer_index(self, layer: int | None) -> int:
        """``layer`` as an index from 0 (None: the last layer); UsageError naming the range when out of it."""
        return check_index(layer, self.n_layers, "layer")

    # -- public views --

    def tokens(self, text: str) -> dict[str, Any]:
        """The tokenization of ``text``: ``{"text", "tokens", "words", "truncated", "model"}``.

        Each token is ``{"index", "token", "id", "special", "word_index", "word", "start", "end"}``
        (``word``/``start``/``end`` None for special tokens); each word is
        ``{"word", "start", "end", "tokens": [token indices]}`` with ``word == text[start:end]``.
        """
        encoded = self._encode(text)
        owner = token_words(len(encoded.ids), encoded.words)
        special = encoded.special
        rows = []
        for i, (token, token_id, span) in enumerate(zip(encoded.tokens, encoded.ids, encoded.spans, strict=True)):
            w = owner[i]
            rows.append(
                {
                    "index": i,
                    "token": token,
                    "id": int(token_id),
                    "special": special[i],
                    "word_index": w,
                    "word": encoded.words[w]["word"] if w is not None else None,
                    "start": span[0] if span else None,
                    "end": span[1] if span else None,
                }
            )
        return {
            "text": text,
            "tokens": rows,
            "words": [dict(w, tokens=list(w["tokens"])) for w in encoded.words],
            "truncated": encoded.truncated,
            "model": self.model_info.name,
        }

    def vectors(self, text: str, layer: int | None = None) -> tuple[list[str], np.ndarray]:
        """The tokens of ``text`` and their contextual vectors at ``layer`` (default: the last),
        an ``(n_tokens, hidden)`` float32 array."""
        layer = self.layer_index(layer)
        encoded, outputs = self._run(text)
        return list(encoded.tokens), outputs.hidden[layer].astype(np.float32, copy=False)

    def attention(self, text: str, layer: int | None = -1, head: int | None = None) -> tuple[list[str], np.ndarray]:
        """The tokens of ``text`` and the ``(n, n)`` attention of ``layer`` (default: the last): row i is
        how token i spreads its attention over the tokens (rows sum to 1). ``head`` picks one head;
        None averages them all."""
        layer = self.layer_index(layer)
        if head is not None and self.n_heads > 0:
            check_index(head, self.n_heads, "head")
        encoded, outputs = self._run(text, attentions=True)
        assert outputs.attentions is not None
        return list(encoded.tokens), head_matrix(outputs.attentions[layer], head)

    def word_similarity(self, text_a: str, text_b: str, word: str, layer: int | None = None) -> dict[str, Any]:
        """Cosine of the contextual vector of ``word`` in ``text_a`` and in ``text_b`` (the first whole-word,
        case-insensitive occurrence in each; a word of several tokens is mean-pooled over them), and of the
        two texts' mean token vectors (mean pooling over every token, as sentence-transformers does).

        Returns ``{"word", "a", "b", "score", "sentence_score", "layer", "a_tokens", "b_tokens",
        "a_span", "b_span", "model"}``.

        Raises:
            InputError: ``word`` is not in one of the texts, or lies past the model's token limit.
        """
        layer = self.layer_index(layer)
        found = {}
        for key, text in (("a", text_a), ("b", text_b)):
            span = find_word(text, word)
            if span is None:
                raise InputError(f"{word!r} is not a word of the text {text!r}", "pick a word that both texts hold")
            encoded, outputs = self._run(text)
            picked = tokens_in_span(encoded.spans, *span)
            if not picked:
                raise InputError(
                    f"{word!r} in the text {text!r} lies past the model's limit of {self.limit} tokens",
                    "shorten the text or pick an earlier word",
                )
            vectors = outputs.hidden[layer]
            found[key] = (span, picked, mean_pool(vectors, picked), vectors.mean(axis=0), encoded)
        (span_a, picked_a, word_a, sent_a, enc_a), (span_b, picked_b, word_b, sent_b, enc_b) = found["a"], found["b"]
        return {
            "word": word,
            "a": text_a,
            "b": text_b,
            "score": cosine(word_a, word_b),
            "sentence_score": cosine(sent_a, sent_b),
            "layer": layer,
            "a_tokens": [enc_a.tokens[i] for i in picked_a],
            "b_tokens": [enc_b.tokens[i] for i in picked_b],
            "a_span": list(span_a),
            "b_span": list(span_b),
            "model": self.model_info.name,
        }

    def plot_attention(
        self, text: str, path: str | os.PathLike[str], layer: int | None = -1, head: int | None = None
    ) -> Path:
        """Draw the attention of ``layer``/``head`` (None: mean of the heads) as a heatmap with the tokens
        on both axes (rows attend to columns); PNG, SVG or PDF by the file's suffix, written atomically."""
        fmt = plot_format(path)
        tokens, matrix = self.attention(text, layer, head)
        layer_index = self.layer_index(layer)
        which = f"head {head % self.n_heads}" if head is not None else f"mean of {self.n_heads} heads"
        title = f"{self.model_info.name.rsplit('/', 1)[-1]}: layer {layer_index}, {which}"
        return draw_heatmap(matrix, tokens, path, title=title, fmt=fmt)


def plot_format(path: str | os.PathLike[str]) -> str:
    """The image format of ``path`` from its suffix (png, svg or pdf)."""
    fmt = Path(path).suffix.lower().lstrip(".")
    if fmt not in PLOT_FORMATS:
        raise UsageError(
            f"cannot draw a heatmap to {str(path)!r}",
            f"give a file name ending in {', '.join('.' + f for f in PLOT_FORMATS)}",
        )
    return fmt


def draw_heatmap(
    matrix: np.ndarray, tokens: Sequence[str], path: str | os.PathLike[str], *, title: str, fmt: str = "png"
) -> Path:
    """An ``(n, n)`` matrix as a labelled heatmap, on a bare matplotlib ``Figure`` (no pyplot state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from nlu_toolkit.io.writers import atomic_output

    n = len(tokens)
    side = float(min(max(4.0, 0.3 * n + 2.0), 40.0))
    fig = Figure(figsize=(side + 1.0, side), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    image = ax.imshow(matrix, cmap="viridis", vmin=0.0, aspect="equal", interpolation="nearest")
    fontsize = 9 if n <= 40 else 7 if n <= 100 else 5
    ax.set_xticks(range(n))
    ax.set_yticks(range(n))
    ax.set_xticklabels(tokens, rotation=90, fontsize=fontsize)
    ax.set_yticklabels(tokens, fontsize=fontsize)
    ax.set_xlabel("attended to (key)")
    ax.set_ylabel("attending (query)")
    ax.set_title(title, fontsize=10)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    with atomic_output(path, "wb") as f:
        fig.savefig(f, format=fmt)
    return Path(path)


# --- the function behind `nlu inspect` --------------------------------------------------------------


def _texts(inputs: Inputs) -> list[dict[str, Any]]:
    return list(as_records(inputs))


def inspect_text(
    texts: Inputs,
    model: str | None = None,
    *,
    attention: str | os.PathLike[str] | None = None,
    layer: int | None = None,
    head: int | None = None,
    vectors: bool = False,
    vectors_out: str | os.PathLike[str] | None = None,
    similarity: str | None = None,
    device: str | None = "auto",
    max_length: int | None = None,
    trust_remote_code: bool = False,
) -> list[dict[str, Any]]:
    """What `nlu inspect` does, as records.

    Without options: one tokenization record per text (see `Inspector.tokens`), with its ``id``.

    - ``attention=FILE`` (one text): draw the attention heatmap of ``layer``/``head`` to FILE; the record
      gets ``"attention": {"path", "layer", "head"}`` (head None: the mean of the heads).
    - ``vectors=True``: each token gets its contextual ``vector`` (a list) and its ``norm``.
    - ``vectors_out=FILE`` (one text): save the ``(n_tokens, hidden)`` float32 array as .npy, atomically.
    - ``similarity=WORD`` (exactly two texts): one record instead, from `Inspector.word_similarity`.

    ``layer`` (default: the last) applies to attention, vectors and similarity; ``head`` to attention only.
    Option combinations are checked before the model loads.
    """
    records = _texts(texts)
    n = len(records)
    if similarity is not None:
        if attention is not None or vectors or vectors_out is not None:
            raise UsageError(
                "--similarity cannot be combined with --attention, --vectors or --vectors-out", "run them apart"
            )
        if n != 2:
            raise UsageError(
                f"--similarity compares a word in exactly two texts, got {n}",
                'e.g. nlu inspect "I sat on the bank of the river" "I put money in the bank" --similarity bank',
            )
        if not similarity.strip():
            raise UsageError("--similarity needs a word", "e.g. --similarity bank")
    for option, value in (("--attention", attention), ("--vectors-out", vectors_out)):
        if value is not None and n != 1:
            raise UsageError(f"{option} works on one text, got {n}", "pass a single text")
    if head is not None and attention is None:
        raise UsageError("--head applies to --attention", "add --attention FILE.png, or drop --head")
    if layer is not None and attention is None and not vectors and vectors_out is None and similarity is None:
        raise UsageError(
            "--layer applies to --attention, --vectors, --vectors-out and --similarity", "add one, or drop --layer"
        )
    if attention is not None:
        plot_format(attention)
    inspector = Inspector(model, device=device, max_length=max_length, trust_remote_code=trust_remote_code)
    if similarity is not None:
        return [inspector.word_similarity(records[0]["text"], records[1]["text"], similarity, layer)]
    # Check the layer and head before any work, so a bad index writes nothing.
    layer_index = inspector.layer_index(layer)
    if head is not None and inspector.n_heads > 0:
        check_index(head, inspector.n_heads, "head")
    out: list[dict[str, Any]] = []
    for record in records:
        text = record["text"]
        result = {"id": record["id"], **inspector.tokens(text)}
        if attention is not None:
            inspector.plot_attention(text, attention, layer_index, head)
            result["attention"] = {
                "path": str(attention),
                "layer": layer_index,
                "head": None if head is None else head % inspector.n_heads,
                "heads": inspector.n_heads,
            }
        if vectors or vectors_out is not None:
            _, matrix = inspector.vectors(text, layer_index)
            if vectors:
                norms = np.linalg.norm(matrix, axis=1)
                for token, vector, norm in zip(result["tokens"], matrix.tolist(), norms.tolist(), strict=True):
                    token["vector"] = vector
                    token["norm"] = norm
            if vectors_out is not None:
                save_vectors(matrix, vectors_out)
                result["vectors_out"] = str(vectors_out)
                result["vectors_shape"] = list(matrix.shape)
            result["layer"] = layer_index
        out.append(result)
    return out


def save_vectors(matrix: np.ndarray, path: str | os.PathLike[str]) -> Path:
    """Save an ``(n_tokens, hidden)`` array as .npy, atomically."""
    from nlu_toolkit.io.writers import atomic_output

    with atomic_output(path, "wb") as f:
        np.save(f, np.asarray(matrix, dtype=np.float32))
    return Path(path)


__all__ = [
    "Inspector",
    "check_index",
    "cosine",
    "draw_heatmap",
    "find_word",
    "group_words",
    "head_matrix",
    "inspect_text",
    "mean_pool",
    "save_vectors",
    "token_spans",
    "token_words",
    "tokens_in_span",
]
