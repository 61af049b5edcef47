"""Text generation tasks: `Summarizer`/`summarize`, `Translator`/`translate`, `Generator`/`generate`.

transformers 5 has no summarization or translation pipeline, so these call
``model.generate`` directly, with the speed habits of the other tasks: inputs
tokenized once, batches sorted by length and padded dynamically, and long
inputs split (summaries: into chunks of whole sentences that fit the encoder;
translation: at sentence boundaries) instead of being silently cut.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nlu_toolkit.engine.options import RunFields, RunOptions
from nlu_toolkit.engine.runtime import set_torch_threads
from nlu_toolkit.errors import InputError, UsageError
from nlu_toolkit.io.readers import check_text
from nlu_toolkit.models.resolver import LoadedModel, ModelInfo, load_model
from nlu_toolkit.records import merge_passthrough
from nlu_toolkit.tasks.common import Inputs, as_records, check_positive, passthrough, token_limit
from nlu_toolkit.tasks.generation_settings import generation_run, reduce_rounds, resolve_lengths

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing.Unpack is Python 3.11+

#: Summarization rounds at most (map-reduce, `generation_settings.reduce_rounds`): each round divides a
#: document's length by about the encoder's limit over ``max_length`` (1024 / 142 for distilbart-cnn).
MAX_ROUNDS = 8

# Sentence ends: whitespace after ., ! or ?, or after one of them plus a closing quote or bracket.
_SENTENCE_END = re.compile(r"(?<=[.!?][\"')\]])\s+|(?<=[.!?])\s+")


@dataclass
class GeneratedText:
    """``{"id", "text", "output", "chunks", **passthrough}``; ``outputs`` when several sequences were asked for.

    ``rounds`` (summaries only): how many times the text was summarized; 1, or more when the joined
    summaries of a long document's chunks were over ``max_length`` and were summarized again.
    """

    id: Any
    text: str
    output: str
    chunks: int = 1
    outputs: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    rounds: int | None = None

    def to_dict(self, key: str = "output") -> dict[str, Any]:
        record = {"id": self.id, "text": self.text, key: self.output, "chunks": self.chunks}
        if self.rounds is not None:
            record["rounds"] = self.rounds
        if len(self.outputs) > 1:
            record[key + "s"] = self.outputs
        return merge_passthrough(record, self.extra)


def split_sentences(text: str) -> list[str]:
    """Split ``text`` after sentence-ending punctuation; the pieces rejoin with single spaces."""
    return [s for s in (p.strip() for p in _SENTENCE_END.split(text.strip())) if s]


def pack_sentences(sentences: Sequence[str], lengths: Sequence[int], limit: int) -> list[list[int]]:
    """Greedily group consecutive sentences into chunks of at most ``limit`` tokens.

    Returns lists of sentence indices. A sentence longer than ``limit`` forms a chunk of
    its own (the caller splits it by tokens).
    """
    chunks: list[list[int]] = []
    current: list[int] = []
    used = 0
    for i, n in enumerate(lengths):
        if current and used + n > limit:
            chunks.append(current)
            current, used = [], 0
        current.append(i)
        used += n
    if current:
        chunks.append(current)
    return chunks


class _Seq2Seq:
    """Shared by `Summarizer` and `Translator`: a seq2seq model, chunked inputs, sorted batches."""

    task = "summarization"

    def __init__(
        self,
        model: str | None = None,
        *,
        min_length: int | None = None,
        max_length: int | None = None,
        num_beams: int | None = None,
        max_input_length: int | None = None,
        run: RunOptions | None = None,
        **options: Unpack[RunFields],
    ) -> None:
        # max_length is the output's here (the task's own keyword, bound before **options);
        # the input limit is max_input_length, or run.max_length.
        run = generation_run(run, dict(options), batch_size=8, max_input_length=max_input_length)
        check_positive("num_beams", num_beams)
        self.run = run
        set_torch_threads(run.threads)
        self.loaded: LoadedModel = load_model(
            model, self.task, device=run.device, trust_remote_code=run.trust_remote_code
        )
        self.model_info: ModelInfo = self.loaded.info
        generation = getattr(self.loaded.model, "generation_config", None)
        defaults = generation.to_dict() if generation is not None else {}
        self.min_length, self.max_length = resolve_lengths(min_length, max_length, defaults)
        self.num_beams = num_beams
        self.batch_size = run.batch_size
        self.limit = token_limit(self.loaded.tokenizer, self.loaded.model, run.max_length)
        # Task prefix a T5-style model expects ("summarize: "); `nlu finetune --source-prefix` stores it here.
        self.prefix: str = getattr(self.loaded.model.config, "prefix", None) or ""

    def _generate_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        if self.min_length is not None:
            kwargs["min_length"] = self.min_length
        if self.max_length is not None:
            kwargs["max_length"] = self.max_length
        if self.num_beams is not None:
            kwargs["num_beams"] = self.num_beams
        return kwargs

    def _chunks(self, text: str) -> list[str]:
        """Pieces of ``text`` that each fit the encoder: whole sentences where possible."""
        tok = self.loaded.tokenizer
        room = self.limit - tok.num_special_tokens_to_add(pair=False)
        if self.prefix:
            room -= len(tok(self.prefix, add_special_tokens=False)["input_ids"])
        ids = tok(text, add_special_tokens=False)["input_ids"]
        if len(ids) <= room:
            return [text]
        sentences = split_sentences(text)
        # Measured with a leading space: inside a chunk every sentence but the first follows one, and
        # byte-level BPE spends tokens on it.
        lengths = [len(x) for x in tok([" " + s for s in sentences], add_special_tokens=False)["input_ids"]]
        pieces: list[str] = []
        groups = pack_sentences(sentences, lengths, room)
        while groups:
            group = groups.pop(0)
            piece = " ".join(sentences[i] for i in group)
            piece_ids = tok(piece, add_special_tokens=False)["input_ids"]
            if len(piece_ids) <= room:
                pieces.append(piece)
            elif len(group) > 1:  # the estimate was short: split the group and check the halves
                half = len(group) // 2
                groups[:0] = [group[:half], group[half:]]
            else:  # one over-long sentence: cut it by tokens
                pieces += [tok.decode(piece_ids[i : i + room]).strip() for i in range(0, len(piece_ids), room)]
        return pieces

    def _run(self, texts: list[str]) -> list[str]:
        """Generate one output per input text, in order, in length-sorted batches."""
        import torch

        from nlu_toolkit.engine.batching import length_sorted_batches

        tok = self.loaded.tokenizer
        model = self.loaded.model
        enc = tok([self.prefix + t for t in texts], truncation=True, max_length=self.limit)
        lengths = [len(ids) for ids in enc["input_ids"]]
        outputs: list[str] = [""] * len(texts)
        kwargs = self._generate_kwargs()
        keys = [k for k in ("input_ids", "attention_mask") if k in enc]
        # A beam search keeps num_beams rows per text; measured on a 2-core CPU (benchmarks/RESULTS.md),
        # batch_size / sqrt(beams) texts per call was fastest: 8 texts greedy, 4 with 4 beams.
        beams = kwargs.get("num_beams") or getattr(getattr(model, "generation_config", None), "num_beams", 1) or 1
        per_call = max(1, round(self.batch_size / beams**0.5))
        for batch in length_sorted_batches(lengths, per_call):
            features = [{k: enc[k][i] for k in keys} for i in batch]
            padded = tok.pad(features, return_tensors="pt").to(self.model_info.device)
            with torch.inference_mode():
                generated = model.generate(**padded, **kwargs)
            for i, text in zip(batch, tok.batch_decode(generated, skip_special_tokens=True), strict=True):
                outputs[i] = text.strip()
        return outputs

    def predict(self, inputs: Inputs) -> Iterator[GeneratedText]:
        """One record per text, in order; the outputs of a long text's pieces are joined with spaces."""
        from nlu_toolkit.engine.batching import WINDOW, chunked

        for window in chunked(as_records(inputs), WINDOW):
            pieces: list[str] = []
            owner: list[int] = []
            for r, record in enumerate(window):
                text = record["text"]
                if not text.strip():
                    raise InputError(f"record {record.get('id')!r} has an empty text", "remove empty texts")
                for piece in self._chunks(text):
                    pieces.append(piece)
                    owner.append(r)
            outputs = self._run(pieces)
            per_record: list[list[str]] = [[] for _ in window]
            for r, out in zip(owner, outputs, strict=True):
                per_record[r].append(out)
            joined, rounds = self._reduce(per_record)
            for record, outs, text, n in zip(window, per_record, joined, rounds, strict=True):
                yield GeneratedText(
                    record["id"], record["text"], text, len(outs), rounds=n, extra=passthrough(record, ["text"])
                )

    def _reduce(self, per_record: list[list[str]]) -> tuple[list[str], list[int | None]]:
        """Each text's pieces' outputs joined with spaces (no rounds: translations are not reduced)."""
        return [" ".join(o for o in outs if o) for outs in per_record], [None] * len(per_record)


class Summarizer(_Seq2Seq):
    """A loaded summarization model; `predict` streams one summary record per text, in order.

    Documents longer than the encoder's input are cut into chunks of whole
    sentences that fit; each chunk is summarized and the summaries joined
    (``chunks`` in the record says how many), so nothing is silently dropped.
    While the joined summaries are longer than ``max_length`` tokens they are
    chunked and summarized again (map-reduce; ``rounds`` in the record says how
    many times), so the summary keeps the bound. The rounds stop at `MAX_ROUNDS`,
    or when a round no longer shortens the text (a ``min_length`` or ``max_length``
    near the encoder's limit): only then is a summary longer than ``max_length``.

    Args:
        model: hub id, local folder or preset (default: sshleifer/distilbart-cnn-12-6).
        min_length, max_length: summary length bounds in tokens (default: the model's);
            checked against each other and the model's defaults (`generation_settings.resolve_lengths`).
            ``max_length`` is the OUTPUT's length here, not the input limit of `RunOptions`.
        num_beams: beam width (default: the model's).
        max_input_length: lower the encoder's input limit (chunks get smaller); the same as
            ``run.max_length``, and wins over it.
        run: how the model runs (`RunOptions`: device, batch size, threads, trust_remote_code;
            ``max_length`` there is the input limit); its fields may also be given as keywords
            (``batch_size=4``), except ``max_length``, which is the summary's. Without ``run`` the
            batch size is 8: texts per ``generate`` call with greedy decoding; with beams,
            ``batch_size / sqrt(num_beams)`` (measured fastest on CPU). Torch only: a ``backend``
            other than torch, or ``quantize``, is a `UsageError`.
    """

    task = "summarization"

    def _reduce(self, per_record: list[list[str]]) -> tuple[list[str], list[int | None]]:
        """Join each document's chunk summaries; summarize the joined text again while it is over the bound."""
        joined, _ = super()._reduce(per_record)
        tok = self.loaded.tokenizer

        def count(text: str) -> int:
            return len(tok(text, add_special_tokens=False)["input_ids"])

        several = [len(outs) > 1 for outs in per_record]
        texts, rounds = reduce_rounds(joined, several, self.max_length, self._chunks, self._run, count, MAX_ROUNDS)
        return texts, list(rounds)


class Translator(_Seq2Seq):
    """A loaded translation model; `predict` streams one translation per text, in order.

    The default model is ``Helsinki-NLP/opus-mt-{source}-{target}``. Texts longer
    than the encoder's input are split at sentence boundaries, translated in
    pieces and joined. ``max_length``, ``num_beams``, ``max_input_length`` and ``run`` are
    as for `Summarizer` (``max_length`` is the translation's length).
    """

    task = "translation"

    def __init__(
        self,
        model: str | None = None,
        *,
        source: str | None = None,
        target: str | None = None,
        max_length: int | None = None,
        num_beams: int | None = None,
        max_input_length: int | None = None,
        run: RunOptions | None = None,
        **options: Unpack[RunFields],
    ) -> None:
        if model is None:
            if not source or not target:
                raise UsageError(
                    "translation needs {=source} and {=target} (or {=model})", "e.g. {=source}=en {=target}=de"
                )
            for name, value in (("source", source), ("target", target)):
                if not re.fullmatch(r"[a-z]{2,3}(_[A-Za-z]+)?", value):
                    raise UsageError(f"{{={name}}} {value!r} is not a language code", "use codes like en, de, fr, zh")
            model = f"Helsinki-NLP/opus-mt-{source}-{target}"
        self.source, self.target = source, target
        super().__init__(
            model,
            min_length=None,
            max_length=max_length,
            num_beams=num_beams,
            max_input_length=max_input_length,
            run=run,
            **options,
        )


class Generator:
    """A loaded causal language model (default: distilgpt2) that continues prompts.

    Args:
        max_new_tokens: tokens to add to each prompt.
        do_sample: sample (with ``temperature``/``top_p``) instead of greedy decoding.
        num_return_sequences: continuations per prompt.
        seed: seeds the sampler before each prompt, so a run repeats exactly.
        run: how the model runs (`RunOptions`: device, threads, trust_remote_code, and
            ``max_length``, which lowers the model's token limit: prompt plus new tokens); its
            fields may also be given as keywords. Prompts run one at a time on torch: a
            ``batch_size`` other than the default, a ``backend`` other than torch, or ``quantize``
            is a `UsageError`.
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        max_new_tokens: int = 50,
        do_sample: bool = False,
        temperature: float = 1.0,
        top_p: float = 1.0,
        num_return_sequences: int = 1,
        seed: int | None = None,
        run: RunOptions | None = None,
        **options: Unpack[RunFields],
    ) -> None:
        run = generation_run(run, dict(options), batch_size=None)
        check_positive("max_new_tokens", max_new_tokens)
        check_positive("num_return_sequences", num_return_sequences)
        if not temperature > 0:
            raise UsageError(f"{{=temperature}} must be > 0, got {temperature}", "use e.g. {=temperature}=0.7")
        if not 0 < top_p <= 1:
            raise UsageError(f"{{=top_p}} must be in (0, 1], got {top_p}", "use e.g. {=top_p}=0.9")
        if num_return_sequences > 1 and not do_sample:
            raise UsageError(
                "greedy decoding gives one continuation", "set {=do_sample} for several {=num_return_sequences}"
            )
        self.run = run
        set_torch_threads(run.threads)
        self.loaded = load_model(model, "text-generation", device=run.device, trust_remote_code=run.trust_remote_code)
        self.model_info: ModelInfo = self.loaded.info
        self.max_new_tokens, self.do_sample = max_new_tokens, do_sample
        self.temperature, self.top_p = temperature, top_p
        self.num_return_sequences, self.seed = num_return_sequences, seed
        self.limit = token_limit(self.loaded.tokenizer, self.loaded.model, run.max_length)

    def _kwargs(self) -> dict[str, Any]:
        tok = self.loaded.tokenizer
        kwargs: dict[str, Any] = {
            "max_new_tokens": self.max_new_tokens,
            "do_sample": self.do_sample,
            "num_return_sequences": self.num_return_sequences,
            "pad_token_id": tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id,
        }
        if self.do_sample:
            kwargs |= {"temperature": self.temperature, "top_p": self.top_p}
        return kwargs

    def _encode(self, prompt: str) -> Any:
        tok = self.loaded.tokenizer
        if not isinstance(prompt, str):
            raise InputError(f"the prompt is a {type(prompt).__name__}, not a string", "give the prompt as text")
        check_text(prompt, None, what="the prompt")
        if not prompt.strip():
            raise InputError("the prompt is empty", "give some text to continue")
        enc = tok(prompt, return_tensors="pt")
        room = self.limit - enc["input_ids"].shape[1]
        if room < self.max_new_tokens:
            raise InputError(
                f"the prompt has {enc['input_ids'].shape[1]} tokens; with {{=max_new_tokens}} {self.max_new_tokens} "
                f"that exceeds the model's {self.limit}",
                "shorten the prompt or lower {=max_new_tokens}",
            )
        return enc.to(self.model_info.device)

    def _seed(self, index: int) -> None:
        if self.seed is not None:
            import torch

            torch.manual_seed(self.seed + index)

    def predict(self, inputs: Inputs) -> Iterator[GeneratedText]:
        """One record per prompt, ``output`` = the continuation (``outputs`` with several sequences)."""
        import torch

        tok = self.loaded.tokenizer
        for index, record in enumerate(as_records(inputs)):
            enc = self._encode(record["text"])
            self._seed(index)
            with torch.inference_mode():
                generated = self.loaded.model.generate(**enc, **self._kwargs())
            start = enc["input_ids"].shape[1]
            texts = [t for t in tok.batch_decode(generated[:, start:], skip_special_tokens=True)]
            yield GeneratedText(
                record["id"], record["text"], texts[0], outputs=texts, extra=passthrough(record, ["text"])
            )

    def stream(self, prompt: str, index: int = 0) -> Iterator[str]:
        """Yield pieces of the continuation of ``prompt`` as the model produces them (first sequence only)."""
        import threading

        import torch
        from transformers import TextIteratorStreamer

        enc = self._encode(prompt)
        streamer = TextIteratorStreamer(self.loaded.tokenizer, skip_prompt=True, skip_special_tokens=True)
        kwargs = {**self._kwargs(), "num_return_sequences": 1}
        self._seed(index)
        errors: list[BaseException] = []

        def work() -> None:
            try:
                with torch.inference_mode():
                    self.loaded.model.generate(**enc, **kwargs, streamer=streamer)
            except BaseException as e:  # re-raised in the caller's thread
                errors.append(e)
                streamer.end()

        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        yield from streamer
        thread.join()
        if errors:
            raise errors[0]


def summarize(inputs: Inputs, model: str | None = None, **options: Any) -> list[GeneratedText]:
    """Summarize texts; see `Summarizer` for the options."""
    return list(Summarizer(model, **options).predict(inputs))


def translate(inputs: Inputs, model: str | None = None, **options: Any) -> list[GeneratedText]:
    """Translate texts (``source=``, ``target=`` or ``model=``); see `Translator`."""
    return list(Translator(model, **options).predict(inputs))


def generate(inputs: Inputs, model: str | None = None, **options: Any) -> list[GeneratedText]:
    """Continue prompts with a causal LM; see `Generator`."""
    return list(Generator(model, **options).predict(inputs))
