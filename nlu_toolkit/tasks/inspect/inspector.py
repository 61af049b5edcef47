"""How a transformer sees a text: its tokens, attention maps and contextual token vectors.

`Inspector` loads any transformers encoder (by default the transformer inside the
embedded all-MiniLM-L6-v2) with eager attention, so attention weights come back
(the sdpa kernels return none). One text is tokenized once and run once; the
tokens, words, vectors and attention of the last few texts are kept, so asking
for several views of one text costs one forward pass.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nlu_toolkit.engine.options import RunFields, RunOptions
from nlu_toolkit.errors import InputError, UsageError
from nlu_toolkit.tasks.common import token_limit
from nlu_toolkit.tasks.inspect.attention import check_index, draw_heatmap, head_matrix, plot_format
from nlu_toolkit.tasks.inspect.loading import _load
from nlu_toolkit.tasks.inspect.tokens import find_word, group_words, token_spans, token_words, tokens_in_span
from nlu_toolkit.tasks.inspect.vectors import cosine, mean_pool

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing.Unpack is Python 3.11+

#: Texts whose tokens and forward outputs an `Inspector` keeps.
_KEEP = 4


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


def _refuse_unsupported(run: RunOptions) -> None:
    """Refuse the run options inspection cannot honour, rather than ignore them."""
    default = RunOptions()
    # Attention weights and hidden states of every layer come from the eager torch model only.
    for name in ("backend", "quantize", "threads", "batch_size"):
        if getattr(run, name) != getattr(default, name):
            raise UsageError(
                f"inspection does not take {{={name}}} (it runs the torch model on one text at a time)",
                f"leave {{={name}}} out",
            )


class Inspector:
    """A loaded transformer that shows how it sees a text.

    Args:
        model: hub id, local folder or ``embedded`` (default: the embedded all-MiniLM-L6-v2, offline).
            A sentence-transformers folder is read for its transformer; pooling is not applied.
        run: how the model runs (`RunOptions`); inspection takes its device, token limit (longer
            texts are cut, records say ``truncated``) and trust_remote_code, also as keywords
            (``device="cpu"``, ``max_length=64``). It runs torch on one text at a time, so a
            batch size, backend, quantization or thread count other than the default is refused.

    Layers count from 0 (the first transformer layer) to ``n_layers - 1``; negative indices count from
    the end and None means the last layer. Vectors of layer ``l`` are that layer's output.
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        run: RunOptions | None = None,
        **options: Unpack[RunFields],
    ) -> None:
        run = RunOptions.merge(run, **options)
        _refuse_unsupported(run)
        loaded = _load(model, run.device or "auto", run.trust_remote_code)
        self.model, self.tokenizer, self.model_info = loaded.model, loaded.tokenizer, loaded.info
        limit = token_limit(self.tokenizer, self.model, run.max_length)
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
