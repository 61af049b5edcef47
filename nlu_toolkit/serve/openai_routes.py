"""OpenAI-compatible embeddings: ``POST /v1/embeddings`` and ``GET /v1/models``, for OpenAI clients.

An OpenAI client (``OpenAI(base_url="http://HOST:PORT/v1", api_key=KEY)``), LangChain's
``OpenAIEmbeddings`` or LlamaIndex's ``OpenAIEmbedding`` talk to the served embedding model
with no change but the URL:

* ``input`` is a string or a list of strings (at most ``max_items``, each at most ``max_chars``);
  token ids (a list of ints, or of lists of ints) are refused with a 400: they are ids of the
  client's tokenizer (tiktoken), which mean nothing to this model;
* ``model`` must name the served embedding model: the id ``/v1/models`` lists, or the spec
  ``nlu serve`` was given (``embedded``, a folder, a hub id); another name is a 404
  ``model_not_found``;
* ``encoding_format``: ``float`` (a list of numbers) or ``base64`` (the little-endian float32
  bytes, base64-encoded, as the OpenAI client decodes them; the client asks for it by default);
* ``dimensions`` is refused (400) unless it equals the model's dimension: cutting a vector
  short and renormalising it (Matryoshka) is only right for models trained for it, and a
  model does not say whether it was, so the server never does it silently;
* vectors are unit length, as OpenAI's are: those of ``nlu embed --normalize`` (and of the
  native ``/embed`` with ``"normalize": true``, whose requests they are batched with: both go
  to the same worker, through `Service.run`);
* ``usage.prompt_tokens`` (and ``total_tokens``, the same) counts the tokens the model sees,
  special tokens included, after truncation at the model's limit (longer texts are cut, as
  ``nlu embed`` cuts them, never refused).

Errors have OpenAI's shape (`nlu_toolkit.serve.openai_errors`); the API key is the bearer token
the OpenAI client sends (``Authorization: Bearer KEY``).
"""

from __future__ import annotations

import asyncio
import base64
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import Response
from fastapi.security import HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from nlu_toolkit.serve.config import ServeConfig
from nlu_toolkit.serve.errors import NluJSONResponse
from nlu_toolkit.serve.limits import check_count, text_records
from nlu_toolkit.serve.openai_errors import OPENAI_ERRORS, PREFIX, OpenAIError, OpenAIErrors, OpenAIRoute
from nlu_toolkit.serve.service import Service

#: Texts of more characters than this in one request are counted off the event loop.
_COUNT_INLINE_CHARS = 20_000

TOKEN_IDS_HINT = (
    "send the texts as strings; with LangChain's OpenAIEmbeddings set check_embedding_ctx_length=False "
    "(it otherwise sends tiktoken ids)"
)


# -- request and response bodies --------------------------------------------------------------------


class EmbeddingsBody(BaseModel):
    """OpenAI's embeddings request. Other fields OpenAI clients may send (``user``, extras) are ignored."""

    model_config = ConfigDict(extra="ignore")

    input: str | list[Any] = Field(
        description="A text, or a list of texts (at most max_items). Token-id arrays are refused."
    )
    model: str = Field(description="The served embedding model: the id that GET /v1/models lists, or its spec.")
    encoding_format: Literal["float", "base64"] | None = Field(
        "float", description="float: lists of numbers; base64: little-endian float32 bytes, base64-encoded."
    )
    dimensions: int | None = Field(None, description="Only the model's own dimension is accepted.")
    user: str | None = Field(None, description="Accepted and ignored.")


class EmbeddingItem(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str


class Usage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class EmbeddingsResponse(BaseModel):
    object: Literal["list"] = "list"
    data: list[EmbeddingItem]
    model: str
    usage: Usage


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


# -- the served model's names -----------------------------------------------------------------------


def model_id(info: Any) -> str:
    """The id ``/v1/models`` lists: the hub id (the embedded MiniLM's is its hub id), or a folder's name."""
    if info.source == "local":
        return Path(info.name).name or str(info.name)
    return str(info.name)


def model_names(info: Any, spec: str) -> frozenset[str]:
    """Every name a request may give the served model: its id, the spec it was served with, its path."""
    from nlu_toolkit.models.embedded import EMBEDDED_ALIASES

    names = {model_id(info), spec, str(info.name), str(info.path)}
    if info.source == "local":
        names.add(str(Path(info.name)))  # "./m" and "m" are one folder
    if info.source == "embedded":
        names |= EMBEDDED_ALIASES
    return frozenset(n for n in names if n)


# -- the routes -------------------------------------------------------------------------------------


def token_ids(value: Any) -> bool:
    """Whether ``input`` is token ids: a list of ints, or a list of lists of ints."""
    if not isinstance(value, list) or not value:
        return False
    if all(isinstance(x, int) and not isinstance(x, bool) for x in value):
        return True
    return all(isinstance(x, list) and all(isinstance(t, int) and not isinstance(t, bool) for t in x) for x in value)


def input_texts(value: str | list[Any], config: ServeConfig) -> list[str]:
    """The texts of ``input``: token ids, an empty list, or anything but strings are 400."""
    if token_ids(value):
        raise OpenAIError(
            400,
            f"token-id input is not supported: this server embeds text with its own tokenizer ({TOKEN_IDS_HINT})",
            param="input",
            code="unsupported_input",
        )
    texts = [value] if isinstance(value, str) else value
    if not texts:
        raise OpenAIError(400, "input is an empty list: give a text or a list of texts", param="input")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise OpenAIError(
                400, f"input[{i}] is a {type(text).__name__}, not a string", param="input", code="invalid_value"
            )
    check_count(len(texts), config)
    return texts


class TokenCounter:
    """Counts the tokens the model sees: special tokens included, cut at its limit as `Embedder.encode` cuts.

    A fast tokenizer is counted on its own copy: the shared one belongs to the worker thread,
    and a call with other truncation settings would change it under the worker's feet.
    """

    def __init__(self, embedder: Any) -> None:
        self.embedder = embedder
        backend = getattr(embedder.loaded.tokenizer, "backend_tokenizer", None)
        self.fast: Any = None
        if backend is not None:
            from tokenizers import Tokenizer

            self.fast = Tokenizer.from_str(backend.to_str())
            self.fast.no_padding()
            self.fast.enable_truncation(max_length=embedder.limit)

    def __call__(self, texts: list[str]) -> int:
        if self.fast is not None:
            return sum(len(e.ids) for e in self.fast.encode_batch(texts))
        tokenizer, limit = self.embedder.loaded.tokenizer, self.embedder.limit
        return sum(len(ids) for ids in tokenizer(texts, truncation=True, max_length=limit)["input_ids"])


def _vector(values: list[float], encoding: str) -> list[float] | str:
    if encoding == "base64":
        return base64.b64encode(np.asarray(values, dtype="<f4").tobytes()).decode("ascii")
    return values


def openai_router(service: Service, config: ServeConfig) -> APIRouter:
    """The ``/v1`` routes over ``service`` (its ``embed`` task)."""
    secured = [Depends(HTTPBearer(auto_error=False))] if config.api_key else []
    router = APIRouter(
        prefix=PREFIX,
        route_class=OpenAIRoute,
        dependencies=secured,
        responses=OPENAI_ERRORS,
        tags=["OpenAI-compatible"],
    )
    created = int(time.time())
    cache: dict[str, Any] = {}

    def served() -> tuple[Any, str, frozenset[str]]:
        task = service.task("embed")  # ModelNotAvailable (503) when embed is not served
        if not cache:
            info = task.info  # type: ignore[attr-defined]
            cache.update(id=model_id(info), all=model_names(info, config.models.get("embed", "embedded")))
            cache["count"] = TokenCounter(task.embedders[True])  # type: ignore[attr-defined]
        return task, cache["id"], cache["all"]

    def card(name: str) -> dict[str, Any]:
        return {"id": name, "object": "model", "created": created, "owned_by": "nlu_toolkit"}

    @router.get("/models", response_model=ModelList, summary="The served embedding model, as OpenAI lists models")
    async def list_models() -> Response:
        data = [card(served()[1])] if "embed" in service.tasks else []
        return NluJSONResponse({"object": "list", "data": data})

    @router.get("/models/{model:path}", response_model=ModelCard, summary="One model, as OpenAI describes it")
    async def get_model(model: str) -> Response:
        if "embed" not in service.tasks or model not in served()[2]:
            raise _not_found(model, None)
        return NluJSONResponse(card(served()[1]))

    @router.post("/embeddings", response_model=EmbeddingsResponse, summary="Embed texts (OpenAI's request and answer)")
    async def embeddings(body: EmbeddingsBody) -> Response:
        task, name, known = served()
        if body.model not in known:
            raise _not_found(body.model, name)
        texts = input_texts(body.input, config)
        embedder = task.embedders[True]  # type: ignore[attr-defined]
        if body.dimensions is not None and body.dimensions != embedder.dimension:
            raise OpenAIError(
                400,
                f"dimensions={body.dimensions} is not supported: {name} makes {embedder.dimension}-dimensional "
                "vectors, and cutting them shorter is only right for models trained for it (Matryoshka); "
                f"leave dimensions out or give {embedder.dimension}",
                param="dimensions",
                code="invalid_value",
            )
        records = text_records(texts, config)  # max_chars, valid Unicode
        # group True: unit-length vectors, batched with /embed's {"normalize": true} requests.
        out = await service.run("embed", True, records)
        count = cache["count"]
        if sum(len(t) for t in texts) > _COUNT_INLINE_CHARS:
            tokens = await asyncio.to_thread(count, texts)
        else:
            tokens = count(texts)
        encoding = body.encoding_format or "float"
        data = [
            {"object": "embedding", "index": i, "embedding": _vector(r["embedding"], encoding)}
            for i, r in enumerate(out)
        ]
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        return NluJSONResponse({"object": "list", "data": data, "model": name, "usage": usage})

    return router


def _not_found(model: str, served: str | None) -> OpenAIError:
    what = f"this server embeds with {served!r}" if served else "this server serves no embedding model"
    return OpenAIError(
        404, f"the model {model!r} does not exist here: {what} (GET /v1/models lists it)", param="model",
        code="model_not_found",
    )  # fmt: skip


def install_openai_routes(app: FastAPI, service: Service, config: ServeConfig) -> None:
    """Add the ``/v1`` routes and OpenAI's error shape on their paths (after the `Guard` middleware,
    so its 401 and 413 are rewritten too)."""
    app.add_middleware(OpenAIErrors)  # type: ignore[arg-type]
    app.include_router(openai_router(service, config))
