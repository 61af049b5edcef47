"""Sentence embeddings with sentence-transformers models, on the shared batching path.

`Embedder` tokenizes a window of texts once (with overflow windows for
``long="chunk"``), runs length-sorted batches through the SentenceTransformer
modules and restores input order. Vectors equal ``SentenceTransformer.encode``
up to float noise; the benchmark checks it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from nlu_toolkit.core.pooling import pool_windows
from nlu_toolkit.engine.batching import WINDOW, chunked, run_sorted, tokenize_windows
from nlu_toolkit.engine.options import RunFields, RunOptions
from nlu_toolkit.errors import InputError, UsageError, check_choice
from nlu_toolkit.io.readers import DEFAULT_MAX_CHARS, check_text
from nlu_toolkit.models.resolver import LoadedModel, ModelInfo, load_model
from nlu_toolkit.records import with_fields
from nlu_toolkit.tasks.common import Inputs, as_records, check_stride, long_mode, model_positions

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing.Unpack is Python 3.11+

PRECISIONS = ("float32", "int8", "ubinary")


class Embedder:
    """A loaded sentence-transformers model that turns texts into vectors.

    Args:
        model: hub id, local folder or ``embedded`` (default: the embedded all-MiniLM-L6-v2).
        normalize: scale every vector to unit length.
        long: ``truncate`` cuts texts at the model's limit (records say ``truncated``);
            ``chunk`` embeds overlapping windows and mean-pools them, weighted by tokens
            (``window`` is taken as ``chunk``, with a `DeprecationWarning`).
        stride: with ``long="chunk"``, tokens shared by neighbouring windows (default: a
            quarter of the window).
        run: how the model runs (`RunOptions`: device, batch size in windows, token limit,
            backend, quantize, threads, trust_remote_code); its fields may also be given as
            keywords. With ``backend="onnx"``/``"openvino"`` the transformer is exported once,
            cached, and checked against torch on probe texts; if it disagrees,
            ``runtime_warning`` says so and torch runs.
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        normalize: bool = False,
        long: str = "truncate",
        stride: int | None = None,
        run: RunOptions | None = None,
        **options: Unpack[RunFields],
    ) -> None:
        from nlu_toolkit.engine.runtime import resolve_auto, set_torch_threads

        run = RunOptions.merge(run, **options)
        long = long_mode(long, stride)
        max_length, batch_size, threads = run.max_length, run.batch_size, run.threads
        self.run = run
        self.loaded: LoadedModel = load_model(
            model, "sentence-embedding", device=run.device, trust_remote_code=run.trust_remote_code
        )
        self.model_info: ModelInfo = self.loaded.info
        self._static = self.model_info.kind == "model2vec"  # a static model (nlu distill): no transformer
        if self._static:
            self._init_static(normalize, long, stride, max_length)
            return
        st = self.loaded.model
        self.dimension = int(st.get_embedding_dimension())
        # sentence-transformers' own max_seq_length (as SentenceTransformer.encode cuts), never more
        # than the encoder's position embeddings hold (`model_positions`).
        limit = int(st.max_seq_length or 512)
        positions = model_positions(getattr(st[0], "auto_model", None)) if len(st) else None
        self.limit = min(limit, positions or limit, max_length or limit)
        check_stride(stride, self.limit - self.loaded.tokenizer.num_special_tokens_to_add())
        self.normalize, self.long, self.stride, self.batch_size = normalize, long, stride, batch_size
        #: The backend that actually runs, and why it is not the one asked for (a failed probe check).
        self.runtime, self.runtime_warning = "torch", None
        self._onnx: Any = None
        from nlu_toolkit.models.resolver import weights_sha256

        runtime, quantize = resolve_auto(
            run.backend, run.quantize, task="embed", model_sha=lambda: weights_sha256(self.model_info)
        )
        self._torch_forward = self._forward_padded
        if runtime == "torch":
            set_torch_threads(threads)
        else:
            self._use_onnx(runtime, quantize, threads)
        if self._onnx is None:  # torch runs, asked for or as the fallback
            self._torch_forward = self._packing_forward()

    def _init_static(self, normalize: bool, long: str, stride: int | None, max_length: int | None) -> None:
        """A Model2Vec model: token vectors looked up and mean-pooled in numpy, on the CPU."""
        from nlu_toolkit.models.static import DEFAULT_LIMIT

        self.dimension = int(self.loaded.model.dim)
        self.limit = int(max_length or self.loaded.model.config.get("max_length") or DEFAULT_LIMIT)
        self.normalize, self.long, self.stride, self.batch_size = normalize, long, stride, self.run.batch_size
        self.runtime, self.runtime_warning, self._onnx = "static", None, None

    def _encode_static(self, texts: list[str]) -> tuple[np.ndarray, list[bool]]:
        """`encode` on a static model: ``long="chunk"`` pools every token (windows would change nothing but
        the weights of their overlaps); ``truncate`` cuts at `limit` tokens, as the transformer path does."""
        model, chunk = self.loaded.model, self.long == "chunk"
        vectors = model.encode(texts, max_length=None if chunk else self.limit, use_multiprocessing=False)
        vectors = np.asarray(vectors, dtype=np.float32)
        if self.normalize:
            vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        # A token spans at least one character: only texts longer than the limit in characters can be cut.
        long_texts = [i for i, t in enumerate(texts) if not chunk and len(t) > self.limit]
        truncated = [False] * len(texts)
        if long_texts:
            # The tokenizer may cut at the model's own max_length: then what overflowed was cut too.
            encoded = model.tokenizer.encode_batch_fast([texts[i] for i in long_texts], add_special_tokens=False)
            for i, enc in zip(long_texts, encoded, strict=True):
                truncated[i] = len(enc.ids) > self.limit or (len(enc.ids) >= self.limit and bool(enc.overflowing))
        return vectors, truncated

    def _packing_forward(self) -> Any:
        """The torch forward, packing mixed-length batches on the CPU (see `nlu_toolkit.engine.packing`).

        Packing needs the plain layout: a transformers encoder first, then modules that read only
        ``token_embeddings`` and ``attention_mask`` (pooling, dense, normalize), as the ONNX path has.
        """
        from nlu_toolkit.engine.packing import PackedRunner, probe_batch
        from nlu_toolkit.engine.probe import PROBE_SENTENCES

        first = self.loaded.model[0]
        encoder = getattr(first, "auto_model", None)
        if encoder is None or getattr(encoder.config, "output_hidden_states", False):
            return self._forward_padded
        tok = self.loaded.tokenizer
        pad_id = tok.pad_token_id or 0
        runner = PackedRunner.for_model(encoder, self.model_info.device, pad_id)
        if runner is None:
            return self._forward_padded
        probe, _, _ = tokenize_windows(tok, PROBE_SENTENCES, limit=self.limit, all_windows=False)
        return runner.wrap(self._forward_padded, self._forward_packed, probe_batch(probe, pad_id))

    def _forward_packed(self, inputs: dict[str, Any], batch: dict[str, np.ndarray]) -> np.ndarray:
        import torch

        encoder = self.loaded.model[0].auto_model
        with torch.inference_mode():
            # The packing hook hands back (batch, longest, hidden): the padded shape pooling expects.
            tokens = encoder(**inputs, return_dict=True).last_hidden_state
            return self._pool(tokens, torch.from_numpy(batch["attention_mask"]))

    def _pool(self, token_embeddings: Any, attention_mask: Any) -> np.ndarray:
        """The modules after the transformer (pooling, dense, normalize) on its token embeddings."""
        import torch

        features: dict[str, Any] = {"token_embeddings": token_embeddings, "attention_mask": attention_mask}
        with torch.inference_mode():
            for module in list(self.loaded.model)[1:]:
                features = module(features)
        return features["sentence_embedding"].float().cpu().numpy()

    def _use_onnx(self, backend: str, quantize: str | None, threads: int | None) -> None:
        """Export (once, cached) and check the ONNX or OpenVINO graph; fall back to torch if it disagrees."""
        from nlu_toolkit.engine import onnx_backend
        from nlu_toolkit.engine.runtime import backend_name, disagreement, open_session

        transformer = self.loaded.model[0].auto_model
        session, self.runtime_warning = open_session(
            transformer, self.loaded.tokenizer, self.model_info, head="encoder", backend=backend, quantize=quantize,
            threads=threads,
        )  # fmt: skip
        if session is None:
            return
        # Each probe text runs alone: dynamic int8 scales activations per batch, so a padded
        # mixed-length batch measures the batch as much as the graph (see onnx_backend._quantize).
        reference = np.concatenate([self.encode([t])[0] for t in onnx_backend.PROBE_TEXTS])
        self._onnx = session
        candidate = np.concatenate([self.encode([t])[0] for t in onnx_backend.PROBE_TEXTS])
        worst = float(onnx_backend.cosines(reference, candidate).min())
        if worst < onnx_backend.MIN_COSINE:
            self._onnx = None
            detail = f"probe cosine {worst:.4f} < {onnx_backend.MIN_COSINE}"
            self.runtime_warning = disagreement(backend, quantize, detail)
            return
        self.runtime = backend_name(backend, quantize)

    def _forward(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        import torch

        if self._onnx is not None:
            # The transformer runs in ONNX Runtime or OpenVINO; pooling/dense/normalize modules stay in torch.
            return self._pool(torch.from_numpy(self._onnx(batch)), torch.from_numpy(batch["attention_mask"]))
        return self._torch_forward(batch)

    def _forward_padded(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        import torch

        device = self.model_info.device
        inputs = {k: torch.from_numpy(v).to(device) for k, v in batch.items()}
        with torch.inference_mode():
            emb = self.loaded.model(inputs)["sentence_embedding"]
        return emb.float().cpu().numpy()

    def encode(self, texts: Sequence[str]) -> tuple[np.ndarray, list[bool]]:
        """Embed ``texts``: ``(n, dimension)`` float32 in input order, and per-text truncation flags.

        Memory is one window of features plus the output; call it per window of
        texts (as `embed` does) for unbounded inputs.
        """
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32), []
        for i, text in enumerate(texts):  # the last guard before the tokenizer (queries, labels, pairs)
            if not isinstance(text, str):
                raise InputError(f"text {i} is a {type(text).__name__}, not a string", "pass strings")
            check_text(text, None, what=f"text {i}")
        if self._static:
            return self._encode_static(texts)
        tok = self.loaded.tokenizer
        chunk = self.long == "chunk"
        features, sample_of, truncated = tokenize_windows(
            tok, texts, limit=self.limit, all_windows=chunk, stride=self.stride
        )
        vectors = np.stack(
            run_sorted(features, self._forward, batch_size=self.batch_size, pad_id=tok.pad_token_id or 0)
        )
        if chunk and len(features) > len(texts):
            weights = [len(f["input_ids"]) for f in features]
            vectors = pool_windows(vectors, sample_of, len(texts), weights).astype(np.float32)
        if self.normalize:
            vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return vectors.astype(np.float32, copy=False), [t and not chunk for t in truncated]

    def embed(
        self, inputs: Inputs, *, id_start: int = 0
    ) -> Iterator[tuple[list[dict[str, Any]], np.ndarray, list[bool]]]:
        """Stream ``(records, vectors, truncated)`` per window of up to 1,024 records, in input order.

        Inputs without ids are numbered from ``id_start``.
        """
        for window in chunked(as_records(inputs, id_start=id_start), WINDOW):
            vectors, truncated = self.encode([r["text"] for r in window])
            yield window, vectors, truncated


def check_precision(precision: str) -> None:
    """Refuse a ``precision`` other than ``float32``, ``int8`` and ``ubinary``."""
    check_choice("precision", precision, PRECISIONS)


def quantize(vectors: np.ndarray, precision: str, ranges: np.ndarray | None = None) -> np.ndarray:
    """Quantize float vectors with sentence-transformers: ``int8`` (calibrated on ``ranges`` or the
    vectors themselves) or ``ubinary`` (packed bits, ``dimension / 8`` bytes per vector)."""
    check_precision(precision)
    if precision == "float32":
        return vectors
    if precision == "int8" and ranges is None and len(vectors) < 2:
        raise UsageError(
            "int8 ranges cannot be calibrated on fewer than 2 embeddings", "embed at least 2 texts, or use float32"
        )
    from sentence_transformers.quantization import quantize_embeddings

    return np.asarray(quantize_embeddings(vectors, precision=precision, ranges=ranges))


def embed(
    inputs: Inputs,
    model: str | None = None,
    *,
    precision: str = "float32",
    normalize: bool = False,
    long: str = "truncate",
    stride: int | None = None,
    run: RunOptions | None = None,
    **options: Unpack[RunFields],
) -> tuple[list[dict[str, Any]], np.ndarray]:
    """Embed texts; returns the records (``id``, ``truncated``, passthrough) and an ``(n, dim)`` array.

    ``precision`` is ``float32``, ``int8`` or ``ubinary``; ``normalize``, ``long``, ``stride`` and
    ``run`` (or its fields as keywords) are `Embedder`'s.
    """
    run = RunOptions.merge(run, **options)
    check_precision(precision)  # before the model loads
    embedder = Embedder(model, normalize=normalize, long=long, stride=stride, run=run)
    records: list[dict[str, Any]] = []
    parts: list[np.ndarray] = []
    for window, vectors, truncated in embedder.embed(inputs):
        records.extend(with_fields(r, truncated=t) for r, t in zip(window, truncated, strict=True))
        parts.append(vectors)
    matrix = np.concatenate(parts) if parts else np.zeros((0, embedder.dimension), dtype=np.float32)
    return records, quantize(matrix, precision)


def similarity(
    a: str | Sequence[str],
    b: str | Sequence[str],
    model: str | None = None,
    *,
    long: str = "truncate",
    stride: int | None = None,
    run: RunOptions | None = None,
    **options: Unpack[RunFields],
) -> list[dict[str, Any]]:
    """Cosine similarity of aligned pairs: ``[{"a", "b", "score"}]`` for ``a[i]`` and ``b[i]``.

    ``long``, ``stride`` and ``run`` (or its fields as keywords) are `Embedder`'s.
    """
    run = RunOptions.merge(run, **options)
    left = [a] if isinstance(a, str) else list(a)
    right = [b] if isinstance(b, str) else list(b)
    if len(left) != len(right) or not left:
        raise UsageError("similarity needs as many texts in A as in B, at least one", "give aligned pairs")
    check_pairs(left, right)  # before the model loads
    return pair_scores(Embedder(model, normalize=True, long=long, stride=stride, run=run), left, right)


def check_pairs(left: Sequence[str], right: Sequence[str], max_chars: int | None = DEFAULT_MAX_CHARS) -> None:
    """Refuse a pair whose text is not a string, is too long or holds a lone surrogate, naming it."""
    for i, pair in enumerate(zip(left, right, strict=True)):
        for side, text in zip("ab", pair, strict=True):
            if not isinstance(text, str):
                raise InputError(
                    f"text {side!r} of pair {i} is a {type(text).__name__}, not a string", "give pairs of strings"
                )
            check_text(text, max_chars, what=f"text {side!r} of pair {i}")


def pair_scores(embedder: Embedder, left: Sequence[str], right: Sequence[str]) -> list[dict[str, Any]]:
    """`similarity` on an already loaded, normalizing ``embedder`` (servers keep one)."""
    check_pairs(left, right, None)
    # Encode each distinct text once, even when it appears in many pairs.
    unique = list(dict.fromkeys(left + right))
    vectors, _ = embedder.encode(unique)
    index = {t: i for i, t in enumerate(unique)}
    return [
        {"a": x, "b": y, "score": float(vectors[index[x]] @ vectors[index[y]])}
        for x, y in zip(left, right, strict=True)
    ]
