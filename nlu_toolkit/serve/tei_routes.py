"""Hugging Face text-embeddings-inference (TEI) routes, and rerank as Cohere- and Jina-style clients call it.

The shapes follow TEI's published OpenAPI document (``docs/openapi.json`` of
huggingface/text-embeddings-inference, 1.6) and its router (``router/src/http/types.rs``, ``server.rs``):

* ``POST /embed`` with ``{"inputs": str | [str], "normalize": true, "truncate": false}`` -> ``[[float]]``
  (the same route takes our ``text``/``texts`` body; `nlu_toolkit.serve.api` tells them apart by
  ``inputs``, and `tei_embed` answers it);
* ``POST /rerank`` ``{"query", "texts", "raw_scores", "return_text", "truncate"}`` -> ``[{"index", "score",
  "text"?}]``, best first; ``raw_scores`` false gives the sigmoid of the logit, as TEI;
* ``POST /predict`` ``{"inputs": str | [a, b] | [[a], [a, b], ...], "raw_scores"}`` -> ``[{"label", "score"}]``
  per input (a list of those for a batch), best first; softmax (sigmoid for one label) unless ``raw_scores``;
* ``POST /tokenize`` ``{"inputs", "add_special_tokens"}`` -> ``[[{"id", "text", "special", "start", "stop"}]]``;
* ``GET /info`` -> TEI's ``Info`` (``model_sha`` is our weights checksum);
* ``POST /v1/rerank`` ``{"query", "documents": [str | {"text"}], "top_n", "return_documents"}`` ->
  ``{"results": [{"index", "relevance_score", "document"?: {"text"}}], "model"}``.

``/rerank`` and ``/v1/rerank`` run the ``rerank`` task (``--model rerank=PATH``, a sequence-classification
model loaded as a cross-encoder); ``/predict`` the supervised ``classify`` model, else the ``rerank`` model;
``/embed``, ``/tokenize`` and ``/info`` the ``embed`` model (the ``rerank`` model when no embed model is
served).

Errors raised here have TEI's shape and codes, ``{"error", "error_type", "hint"}``: 400 ``Empty`` (an
empty batch), 413 ``Validation`` (a batch over ``max_items``, a text over the model's token limit without
``truncate``), 422 ``Tokenizer``, 424 ``Backend`` (the model is not served or is not a re-ranker). A body
that does not parse gets the server's usual ``{"error", "hint"}`` 422 (TEI answers those in plain text).
``/v1/rerank`` answers its errors in the same shapes.
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import Response
from fastapi.security import HTTPBearer

from nlu_toolkit._version import __version__
from nlu_toolkit.errors import ModelNotAvailable
from nlu_toolkit.serve.config import ServeConfig
from nlu_toolkit.serve.errors import NluJSONResponse
from nlu_toolkit.serve.limits import check_body, text_records
from nlu_toolkit.serve.schemas import EmbedBody
from nlu_toolkit.serve.sequence_scores import PREDICT
from nlu_toolkit.serve.service import Service
from nlu_toolkit.serve.tei_schemas import (
    TEI_ERRORS,
    CohereRerankBody,
    Info,
    Prediction,
    Rank,
    RerankResults,
    SimpleToken,
    TeiError,
    TeiPredictBody,
    TeiRerankBody,
    TeiTokenizeBody,
)

__all__ = ["TEI_ERRORS", "TeiError", "install_tei_routes", "tei_embed", "tei_router"]


def _response(e: TeiError) -> Response:
    body = {"error": e.error, "error_type": e.error_type, **({"hint": e.hint} if e.hint else {})}
    return NluJSONResponse(body, status_code=e.status)


def _served(service: Service, name: str) -> Any:
    """The loaded task, or 424 (TEI's answer when the model cannot do what the route asks)."""
    try:
        return service.task(name)
    except ModelNotAvailable as e:
        raise TeiError(e.message, "Backend", e.hint) from e


def _batch(texts: list[Any], config: ServeConfig, field: str = "inputs") -> list[Any]:
    if not texts:
        raise TeiError(f"`{field}` cannot be empty", "Empty", f"give at least one item in {field!r}")
    if len(texts) > config.max_items:
        raise TeiError(
            f"batch size {len(texts)} > maximum allowed batch size {config.max_items}",
            "Validation",
            "split the request, or restart nlu serve with a larger --max-items",
        )
    return texts


#: id -> (tokenizer, its copy); the tokenizer is held, so its id is not reused while it is here.
_OWN: dict[int, tuple[Any, Any]] = {}


def _own(tokenizer: Any) -> Any:
    """A copy of ``tokenizer`` for the event loop's thread only: a fast tokenizer called from two threads at
    once (here, and the model's worker) may fail ("Already borrowed"), since a call sets its truncation."""
    held = _OWN.get(id(tokenizer))
    if held is None or held[0] is not tokenizer:
        held = _OWN[id(tokenizer)] = (tokenizer, copy.deepcopy(tokenizer))
    return held[1]


def _count(tokenizer: Any, first: str, second: str | None = None) -> int:
    """Tokens of a text or pair with the special tokens, before any truncation."""
    return len(_own(tokenizer)(first, second, truncation=False)["input_ids"])


def _too_long(tokens: int, limit: int) -> TeiError:
    return TeiError(
        f"Input validation error: `inputs` must have less than {limit} tokens. Given: {tokens}",
        "Validation",
        'send "truncate": true to cut it at the limit',
    )


# -- the routes ---------------------------------------------------------------------------------


async def tei_embed(body: EmbedBody, service: Service, config: ServeConfig) -> Response:
    """TEI's ``/embed``: one vector per input, unit length unless ``normalize`` is false."""
    try:
        task = _served(service, "embed")
        texts = _batch([body.inputs] if isinstance(body.inputs, str) else list(body.inputs or []), config)
        check_body(body, config)
        records = text_records(texts, config)
        normalize = True if body.normalize is None else body.normalize
        out = await service.run("embed", normalize, records)
        cut = next((i for i, r in enumerate(out) if r["truncated"]), None)
        if cut is not None and not body.truncate:
            embedder = task.embedders[False]
            raise _too_long(_count(embedder.loaded.tokenizer, texts[cut]), embedder.limit)
    except TeiError as e:
        return _response(e)
    return NluJSONResponse([r["embedding"] for r in out])


def _predict_inputs(inputs: str | list[str] | list[list[str]]) -> tuple[list[tuple[str, ...]], bool]:
    """TEI's ``PredictInput``: ``(items, single)``; an item is ``(text,)`` or ``(text, text_pair)``."""
    if isinstance(inputs, str):
        return [(inputs,)], True
    if inputs and isinstance(inputs[0], str):
        if len(inputs) > 2:
            raise TeiError(
                f"a single input is a text or a pair of texts, got {len(inputs)} strings",
                "Validation",
                'send a batch as a list of lists: [["a"], ["b", "c"]]',
            )
        return [tuple(inputs)], True  # type: ignore[arg-type]
    items = [tuple(x) for x in inputs]
    for i, item in enumerate(items):
        if len(item) not in (1, 2):
            raise TeiError(
                f"inputs[{i}] has {len(item)} strings: each item is [text] or [text, text_pair]", "Validation"
            )
    return items, False  # type: ignore[return-value]


def _tokens(tokenizer: Any, text: str, add_special_tokens: bool) -> list[dict[str, Any]]:
    encoded = tokenizer(
        text, add_special_tokens=add_special_tokens, return_offsets_mapping=True, return_special_tokens_mask=True
    )
    pieces = tokenizer.convert_ids_to_tokens(encoded["input_ids"])
    out = []
    for token_id, (start, stop), special, piece in zip(
        encoded["input_ids"], encoded["offset_mapping"], encoded["special_tokens_mask"], pieces, strict=True
    ):
        if special:
            out.append({"id": token_id, "text": piece, "special": True, "start": None, "stop": None})
        else:
            out.append({"id": token_id, "text": text[start:stop], "special": False, "start": start, "stop": stop})
    return out


def _sequence_model(service: Service) -> tuple[str, Any]:
    """The task ``/predict`` runs and its scorer: the supervised classify model, else the rerank model."""
    predictor = getattr(service.tasks.get("classify"), "predictor", None)
    if predictor is not None:
        return "classify", predictor
    try:
        return "rerank", service.task("rerank").scorer  # type: ignore[attr-defined]
    except ModelNotAvailable as e:
        raise TeiError(
            "no sequence-classification model is served",
            "Backend",
            "restart nlu serve with --model classify=PATH or --model rerank=PATH",
        ) from e


def _main_model(service: Service) -> tuple[Any, dict[str, Any]]:
    """The model ``/tokenize`` and ``/info`` speak of: the embed model, else the rerank model."""
    if "embed" in service.tasks:
        embedder = service.tasks["embed"].embedders[False]  # type: ignore[attr-defined]
        st = embedder.loaded.model
        # A static (Model2Vec) model is no module list: its tokens' vectors are averaged, i.e. mean pooling.
        modules = st if hasattr(st, "__iter__") else ()
        pooling = next((m.get_pooling_mode_str() for m in modules if hasattr(m, "get_pooling_mode_str")), "mean")
        return embedder.loaded, {"embedding": {"pooling": pooling}, "max_input_length": embedder.limit}
    task = _served(service, "rerank")
    labels = task.labels
    kind = "reranker" if len(labels) == 1 else "classifier"
    described = {
        "id2label": {str(i): x for i, x in enumerate(labels)},
        "label2id": {x: i for i, x in enumerate(labels)},
    }
    return task.loaded, {kind: described, "max_input_length": task.max_length}


def tei_router(service: Service, config: ServeConfig) -> APIRouter:
    """``/rerank``, ``/predict``, ``/tokenize``, ``/info`` and ``/v1/rerank`` over ``service``."""
    secured = [Depends(HTTPBearer(auto_error=False))] if config.api_key else []
    router = APIRouter(dependencies=secured, responses=TEI_ERRORS)

    async def scores(body: TeiRerankBody | CohereRerankBody, texts: list[str], check: bool) -> list[float]:
        task = _served(service, "rerank")
        if len(task.labels) != 1:
            raise TeiError(
                "model is not a re-ranker model",
                "Backend",
                f"the rerank model has {len(task.labels)} labels; a re-ranker has one (use POST /predict)",
            )
        _batch(texts, config, "texts" if isinstance(body, TeiRerankBody) else "documents")
        check_body(body, config)
        if check:
            for text in texts:
                tokens = _count(task.scorer.tokenizer, body.query, text)
                if tokens > task.max_length:
                    raise _too_long(tokens, task.max_length)
        raw = isinstance(body, TeiRerankBody) and body.raw_scores
        out = await service.run("rerank", ("rerank", raw), [(body.query, t) for t in texts])
        return [r["score"] for r in out]

    @router.post(
        "/rerank",
        response_model=list[Rank],
        summary="Rerank texts for a query (Hugging Face text-embeddings-inference)",
    )
    async def rerank(body: TeiRerankBody) -> Response:
        try:
            got = await scores(body, body.texts, check=not body.truncate)
        except TeiError as e:
            return _response(e)
        order = sorted(range(len(got)), key=lambda i: -got[i])
        ranks = [{"index": i, "score": got[i], **({"text": body.texts[i]} if body.return_text else {})} for i in order]
        return NluJSONResponse(ranks)

    @router.post(
        "/v1/rerank", response_model=RerankResults, summary="Rerank documents for a query (Cohere/Jina-style clients)"
    )
    async def rerank_v1(body: CohereRerankBody) -> Response:
        texts = [d if isinstance(d, str) else d.text for d in body.documents]
        try:
            got = await scores(body, texts, check=False)
        except TeiError as e:
            return _response(e)
        order = sorted(range(len(got)), key=lambda i: -got[i])[: body.top_n]
        results = [
            {
                "index": i,
                "relevance_score": got[i],
                **({"document": {"text": texts[i]}} if body.return_documents else {}),
            }
            for i in order
        ]
        return NluJSONResponse({"results": results, "model": service.tasks["rerank"].info.name})

    @router.post(
        "/predict",
        response_model=list[Prediction] | list[list[Prediction]],
        summary="Classify texts or text pairs (Hugging Face text-embeddings-inference)",
    )
    async def predict(body: TeiPredictBody) -> Response:
        try:
            name, scorer = _sequence_model(service)
            items, single = _predict_inputs(body.inputs)
            _batch(items, config)
            check_body(body, config)
            if not body.truncate:
                for item in items:
                    tokens = _count(scorer.tokenizer, *item)
                    if tokens > scorer.max_length:
                        raise _too_long(tokens, scorer.max_length)
            out = await service.run(name, (PREDICT, body.raw_scores), items)
        except TeiError as e:
            return _response(e)
        ranked = [
            sorted(
                ({"label": label, "score": s} for label, s in zip(scorer.labels, r["scores"], strict=True)),
                key=lambda p: -p["score"],
            )
            for r in out
        ]
        return NluJSONResponse(ranked[0] if single else ranked)

    @router.post(
        "/tokenize",
        response_model=list[list[SimpleToken]],
        summary="Tokenize texts (Hugging Face text-embeddings-inference)",
    )
    async def tokenize(body: TeiTokenizeBody) -> Response:
        try:
            loaded, _ = _main_model(service)
            texts = _batch([body.inputs] if isinstance(body.inputs, str) else body.inputs, config)
            check_body(body, config)
            if not getattr(loaded.tokenizer, "is_fast", False):
                raise TeiError("the tokenizer gives no character offsets (not a fast tokenizer)", "Tokenizer")
        except TeiError as e:
            return _response(e)
        return NluJSONResponse([_tokens(_own(loaded.tokenizer), t, body.add_special_tokens) for t in texts])

    @router.get(
        "/info", response_model=Info, summary="The served model (Hugging Face text-embeddings-inference's Info)"
    )
    async def info() -> Response:
        from nlu_toolkit.models.resolver import weights_sha256

        try:
            loaded, kind = _main_model(service)
        except TeiError as e:
            return _response(e)
        limit = kind.pop("max_input_length")
        params = loaded.model.parameters() if hasattr(loaded.model, "parameters") else ()  # none in a static model
        dtype = next((str(p.dtype).removeprefix("torch.") for p in params), "float32")
        return NluJSONResponse(
            {
                "model_id": loaded.info.name,
                "model_sha": weights_sha256(loaded.info),
                "model_dtype": dtype,
                "model_type": kind,
                "max_concurrent_requests": 0,  # no cap: requests queue for their model's worker
                "max_input_length": limit,
                "max_batch_tokens": config.batch_size * limit,
                "max_batch_requests": config.max_batch_size,
                "max_client_batch_size": config.max_items,
                "auto_truncate": False,
                "tokenization_workers": len(service.workers),
                "version": __version__,
                "sha": None,
                "docker_label": None,
            }
        )

    return router


def install_tei_routes(app: FastAPI, service: Service, config: ServeConfig) -> None:
    """Add the TEI routes and ``/v1/rerank`` (``/embed`` stays in `nlu_toolkit.serve.api`)."""

    @app.exception_handler(TeiError)
    async def _tei(_: Request, e: TeiError) -> Response:
        return _response(e)

    app.include_router(tei_router(service, config))
