"""The HTTP API: FastAPI routes over a `Service`, with one JSON error shape.

Request shapes (the answer has the shape of the question):

* ``{"text": ...}`` (``/classify``, ``/ner``, ``/embed``), ``{"query": ...}`` (``/search``),
  ``{"question", "context"}`` (``/qa``), ``{"a", "b"}`` (``/similarity``) -> one record;
* ``{"texts": [...]}``, ``{"queries": [...]}``, ``{"records": [...]}``, ``{"pairs": [...]}``
  -> a JSON array of records, in request order, what ``nlu <task> --format json`` prints.

Records are the library's ``to_dict()`` (see `nlu_toolkit.records`). Every error is
``{"error": ..., "hint": ...}``: 400 bad JSON, 401 API key, 404/405 no such endpoint,
413 body or list too large, 422 a field missing or of the wrong type or unusable
input, 503 the task's model is not loaded, 500 anything else (one line; the
traceback goes to the server log only).

This module imports FastAPI at the top: import it through `nlu_toolkit.serve`, which
checks the ``serve`` extra first.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPBearer
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema, model_validator
from starlette.exceptions import HTTPException as StarletteHTTPException

from nlu_toolkit import __version__
from nlu_toolkit.errors import MissingExtra, ModelNotAvailable, NluError, UsageError
from nlu_toolkit.io.writers import dumps
from nlu_toolkit.serve.config import SERVE_TASKS, ServeConfig
from nlu_toolkit.serve.service import Service

log = logging.getLogger("nlu_toolkit.serve")

#: Paths that stay open when an API key is set: liveness and the API's own docs.
OPEN_PATHS = frozenset({"/health", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})
SCHEMA_HINT = "see the request schema at /docs (or /openapi.json)"
#: Where /docs finds Swagger UI's scripts when the swagger-ui-bundle package is installed (the
#: serve extra has it): served from here, so the docs page works offline, not from a CDN.
DOCS_ASSETS = "/docs-assets"
#: Seconds that requests in flight get to finish after SIGTERM before the server stops anyway.
GRACEFUL_SHUTDOWN_S = 30


# -- request bodies -------------------------------------------------------------------------


class _Body(BaseModel):
    # Strict: 123 is not a text, "yes" is not a boolean; unknown fields are typos, not options.
    model_config = ConfigDict(extra="forbid", strict=True)


def _one_of(body: BaseModel, single: tuple[str, ...], many: str) -> None:
    given_single = [getattr(body, f) is not None for f in single]
    given_many = getattr(body, many) is not None
    names = " and ".join(repr(f) for f in single)
    if any(given_single) and given_many:
        raise ValueError(f"give {names} or {many!r}, not both")
    if not given_many and not all(given_single):
        raise ValueError(f"give {names} (one item) or {many!r} (a list)")


def _text_item(value: Any) -> Any:
    if isinstance(value, (str, dict)):
        return value
    raise ValueError("each item must be a string, or an object with a 'text' string")


# One check with one message, rather than pydantic's two for a str | dict union.
TextItem = Annotated[
    Any,
    AfterValidator(_text_item),
    WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "object", "required": ["text"]}]}),
]


class TextsBody(_Body):
    text: str | None = Field(None, description="One text; the answer is one record.")
    texts: list[TextItem] | None = Field(
        None,
        min_length=1,
        description='Texts, or records {"text", "id"?, ...} whose other fields are copied to the answer; '
        "the answer is a list of records in the same order.",
    )

    @model_validator(mode="after")
    def _one(self) -> TextsBody:
        _one_of(self, ("text",), "texts")
        return self


class ClassifyBody(TextsBody):
    labels: list[str] | str | None = Field(
        None, description='Zero-shot candidate labels (a list, or "a,b,c"); without them the model\'s own labels.'
    )
    multi_label: bool | None = Field(None, description="Independent per-label scores (default: the model's own).")
    top_k: int | None = Field(None, ge=1, description="Labels kept per record (default: all).")


class EmbedBody(TextsBody):
    normalize: bool = Field(False, description="Scale every vector to unit length.")


class QaRecord(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    question: str
    context: str
    id: int | str | None = None


class QaBody(_Body):
    question: str | None = None
    context: str | None = None
    records: list[QaRecord] | None = Field(
        None,
        min_length=1,
        description='Records {"question", "context", "id"?, ...}; the answer is a list in the same order.',
    )

    @model_validator(mode="after")
    def _one(self) -> QaBody:
        _one_of(self, ("question", "context"), "records")
        return self


class Pair(_Body):
    a: str
    b: str


class SimilarityBody(_Body):
    a: str | None = None
    b: str | None = None
    pairs: list[Pair] | None = Field(
        None, min_length=1, description="Pairs {a, b}; the answer is a list in the same order."
    )

    @model_validator(mode="after")
    def _one(self) -> SimilarityBody:
        _one_of(self, ("a", "b"), "pairs")
        return self


class SearchBody(_Body):
    query: str | None = None
    queries: list[str] | None = Field(None, min_length=1)
    top_k: int = Field(10, ge=1, le=1000, description="Hits per query.")

    @model_validator(mode="after")
    def _one(self) -> SearchBody:
        _one_of(self, ("query",), "queries")
        return self


# -- response records (for the docs; the records themselves come from the library) ---------------


class _Out(BaseModel):
    model_config = ConfigDict(extra="allow")  # passthrough fields of the request records


class LabelScore(BaseModel):
    label: str
    score: float


class Classification(_Out):
    id: Any
    text: str
    label: str | None
    score: float | None
    labels: list[LabelScore]
    truncated: bool


class Entity(BaseModel):
    label: str
    score: float
    start: int
    end: int
    word: str


class NerRecord(_Out):
    id: Any
    text: str
    entities: list[Entity]
    truncated: bool


class Answer(BaseModel):
    answer: str
    score: float
    start: int
    end: int


class QaAnswer(_Out):
    id: Any
    question: str
    answer: str
    score: float
    start: int
    end: int
    answers: list[Answer]
    impossible: bool


class EmbeddingRecord(_Out):
    id: Any
    truncated: bool
    embedding: list[float]


class SimilarityRecord(BaseModel):
    a: str
    b: str
    score: float


class Hit(_Out):
    rank: int
    id: Any
    score: float


class SearchRecord(BaseModel):
    query_index: int
    query: str
    hits: list[Hit]


class ErrorBody(BaseModel):
    error: str
    hint: str | None = None


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in (
        (400, "The body is not valid JSON."),
        (401, "The API key is missing or wrong."),
        (413, "The body or a list in it is too large."),
        (422, "A field is missing, unknown or of the wrong type, or the input is unusable."),
        (503, "The task's model is not loaded on this server."),
    )
}


# -- errors ---------------------------------------------------------------------------------


class ApiError(Exception):
    """An error answered as ``{"error", "hint"}`` with ``status``."""

    def __init__(self, status: int, error: str, hint: str | None = None) -> None:
        super().__init__(error)
        self.status, self.error, self.hint = status, error, hint


def status_for(e: NluError) -> int:
    """HTTP status of a library error: 503 model unavailable, 422 other bad input/usage, 500 the rest."""
    if isinstance(e, (ModelNotAvailable, MissingExtra)):
        return 503
    if e.exit_code == 2:  # InputError, UsageError, ModelMismatch, TrainingDataError
        return 422
    return 500


class NluJSONResponse(JSONResponse):
    """JSON written as the CLI writes it (numpy values become numbers, non-ASCII stays readable)."""

    def render(self, content: Any) -> bytes:
        return dumps(content).encode("utf-8")


def _error(status: int, error: str, hint: str | None = None, headers: dict[str, str] | None = None) -> Response:
    return NluJSONResponse({"error": error.replace("\n", " "), "hint": hint}, status_code=status, headers=headers)


def _where(loc: Any) -> str:
    # pydantic names the union member an error comes from ("str", "list[str]"); users need only the field.
    parts = [str(x) for x in loc if x != "body" and not (isinstance(x, str) and (x in _TAGS or "[" in x))]
    return ".".join(parts)


_TAGS = frozenset({"str", "int", "float", "bool", "dict", "list", "none", "function-after"})


def _validation_error(errors: list[Any]) -> Response:
    first = errors[0]
    kind = first.get("type", "")
    if kind == "json_invalid":
        reason = first.get("ctx", {}).get("error", "")
        return _error(400, f"the request body is not valid JSON ({reason})", 'send a JSON object, e.g. {"text": ...}')
    where = _where(first.get("loc", ()))
    # A union gives one error per member at the same place: say them together.
    here = [e for e in errors if _where(e.get("loc", ())) == where]
    texts = list(dict.fromkeys(str(e.get("msg", "invalid value")).removeprefix("Value error, ") for e in here))
    if kind == "missing" and not where:
        message = "the request body is missing"
    elif kind == "missing":
        message = f"missing field {where!r}"
    elif kind == "extra_forbidden":
        message = f"unknown field {where!r}"
    else:
        message = f"{where}: {' or '.join(texts)}" if where else " or ".join(texts)
    others = len({_where(e.get("loc", ())) for e in errors} - {where})
    if others:
        message += f" (and {others} more problem{'s' if others > 1 else ''})"
    return _error(422, message, SCHEMA_HINT)


def _install_error_handlers(app: FastAPI) -> None:
    endpoints = ", ".join(f"POST /{t}" for t in SERVE_TASKS) + ", GET /health, GET /models"

    @app.exception_handler(ApiError)
    async def _api(_: Request, e: ApiError) -> Response:
        return _error(e.status, e.error, e.hint)

    @app.exception_handler(NluError)
    async def _nlu(_: Request, e: NluError) -> Response:
        status = status_for(e)
        if status == 500:
            log.error("request failed: %s", e)
        return _error(status, e.message, e.hint)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, e: RequestValidationError) -> Response:
        return _validation_error(list(e.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, e: StarletteHTTPException) -> Response:
        if e.status_code == 404:
            return _error(404, f"no endpoint {request.method} {request.url.path}", f"endpoints: {endpoints}")
        if e.status_code == 405:
            return _error(405, f"{request.method} is not allowed on {request.url.path}", SCHEMA_HINT)
        return _error(e.status_code, str(e.detail), None, headers=dict(e.headers or {}))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, e: Exception) -> Response:
        log.exception("request failed")  # the traceback goes to the server log, never to the client
        return _error(500, f"unexpected {type(e).__name__}: {e}", "the server log has the details")


# -- guard: API key and body size, before any body is parsed ---------------------------------------


class Guard:
    """Pure ASGI middleware: the API key check (401), then the body size limit (413).

    The body is read here, counted as it arrives (a chunked upload names no length),
    and handed on whole, so no route ever sees more than ``max_body_bytes``. It is
    parsed as JSON whatever the Content-Type header says.
    """

    def __init__(self, app: Any, *, api_key: str | None, max_body_bytes: int) -> None:
        self.app = app
        self.key = api_key.encode() if api_key else None
        self.limit = max_body_bytes

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        path = scope["path"]
        open_path = path in OPEN_PATHS or path.startswith(DOCS_ASSETS + "/")
        if self.key is not None and not open_path and not self._authorized(headers):
            response = _error(
                401,
                "missing or wrong API key",
                "send the header Authorization: Bearer <key>",
                headers={"WWW-Authenticate": "Bearer"},
            )
            await response(scope, receive, send)
            return
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                if int(declared) > self.limit:
                    await self._too_large()(scope, receive, send)
                    return
            except ValueError:
                await _error(400, "the Content-Length header is not a number")(scope, receive, send)
                return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before sending its body
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._too_large()(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body, delivered = b"".join(chunks), False
        if scope["method"] in ("POST", "PUT", "PATCH"):
            # Every body is JSON, whatever its Content-Type says: `curl -d '{...}'` sends
            # application/x-www-form-urlencoded, and should work without -H.
            kept = [(k, v) for k, v in scope["headers"] if k != b"content-type"]
            scope = {**scope, "headers": [*kept, (b"content-type", b"application/json")]}

        async def replay() -> dict[str, Any]:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # later calls wait for the disconnect, as the server's own would

        await self.app(scope, replay, send)

    def _too_large(self) -> Response:
        return _error(
            413,
            f"the request body is larger than {self.limit:,} bytes",
            "send fewer or shorter texts per request, or restart nlu serve with a larger --max-body-bytes",
        )

    def _authorized(self, headers: dict[bytes, bytes]) -> bool:
        scheme, _, token = headers.get(b"authorization", b"").partition(b" ")
        # compare_digest takes the same time whatever the first wrong byte, so timing leaks nothing.
        return scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), self.key or b"")


# -- the app --------------------------------------------------------------------------------


def _records(texts: list[Any], config: ServeConfig, field: str = "text") -> list[dict[str, Any]]:
    from nlu_toolkit.io.readers import records_from_texts

    _check_count(len(texts), config)
    return list(records_from_texts(texts, field=field, max_chars=config.max_chars))


def _check_count(n: int, config: ServeConfig) -> None:
    if n > config.max_items:
        raise ApiError(
            413,
            f"the request holds {n} items, more than the limit of {config.max_items}",
            "split it into smaller requests, or restart nlu serve with a larger --max-items",
        )


def _reply(records: list[dict[str, Any]], single: bool) -> Response:
    return NluJSONResponse(records[0] if single else records)


def create_app(config: ServeConfig, service: Service | None = None) -> FastAPI:
    """The FastAPI app for ``config``; loads the models now unless a loaded ``service`` is given.

    The worker threads start with the app (its lifespan) and stop, after finishing the
    queued work, when it shuts down.
    """
    service = service if service is not None else Service(config)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        service.start()
        try:
            yield
        finally:
            # In-flight requests are done by now (the server drains them first); the
            # workers finish anything still queued, off the event loop.
            await asyncio.to_thread(service.stop)

    local_docs = _swagger_assets()
    app = FastAPI(
        docs_url=None if local_docs else "/docs",
        title="nlu_toolkit",
        version=__version__,
        description="Classification, NER, QA, embeddings, similarity and semantic search over HTTP. "
        "One item in, one record out; a list in, a list out, in order.",
        lifespan=lifespan,
        default_response_class=NluJSONResponse,
    )
    app.state.service = service
    if local_docs:
        _local_docs(app, local_docs)
    _install_error_handlers(app)
    app.add_middleware(Guard, api_key=config.api_key, max_body_bytes=config.max_body_bytes)  # type: ignore[arg-type]

    # HTTPBearer only documents the scheme (the Authorize button in /docs); Guard enforces it.
    secured = [Depends(HTTPBearer(auto_error=False))] if config.api_key else []
    router = APIRouter(dependencies=secured, responses=ERRORS)

    @app.get("/health", summary="Liveness, served tasks and batching counters")
    async def health() -> dict[str, Any]:
        return service.health()

    @router.get("/models", summary="The model behind each task, with its weights checksum")
    async def models() -> dict[str, Any]:
        return service.describe()

    @router.post("/classify", response_model=Classification | list[Classification], summary="Classify texts")
    async def classify(body: ClassifyBody) -> Response:
        from nlu_toolkit.tasks.classify import parse_labels

        service.task("classify")
        records = _records([body.text] if body.texts is None else body.texts, config)
        try:
            labels = parse_labels(body.labels)
        except UsageError as e:  # its words are the CLI's (--labels)
            raise ApiError(
                422, e.message.replace("--labels", "'labels'"), 'e.g. "labels": ["sports", "politics"]'
            ) from e
        group = (tuple(labels) if labels else None, body.multi_label)
        out = await service.run("classify", group, records)
        if body.top_k is not None:  # the same cut as Classifier(top_k=...): the best labels, in order
            out = [{**r, "labels": r["labels"][: body.top_k]} for r in out]
        return _reply(out, body.texts is None)

    @router.post("/ner", response_model=NerRecord | list[NerRecord], summary="Find named entities")
    async def ner(body: TextsBody) -> Response:
        service.task("ner")
        records = _records([body.text] if body.texts is None else body.texts, config)
        return _reply(await service.run("ner", None, records), body.texts is None)

    @router.post("/qa", response_model=QaAnswer | list[QaAnswer], summary="Answer questions about contexts")
    async def qa(body: QaBody) -> Response:
        service.task("qa")
        if body.records is None:
            items = [{"id": 0, "question": body.question, "context": body.context}]
        else:
            _check_count(len(body.records), config)
            items = [
                {
                    "id": i if r.id is None else r.id,
                    "question": r.question,
                    "context": r.context,
                    **(r.model_extra or {}),
                }
                for i, r in enumerate(body.records)
            ]
        _check_qa(items, config)
        return _reply(await service.run("qa", None, items), body.records is None)

    @router.post("/embed", response_model=EmbeddingRecord | list[EmbeddingRecord], summary="Embed texts")
    async def embed(body: EmbedBody) -> Response:
        service.task("embed")
        records = _records([body.text] if body.texts is None else body.texts, config)
        return _reply(await service.run("embed", body.normalize, records), body.texts is None)

    @router.post("/similarity", response_model=SimilarityRecord | list[SimilarityRecord], summary="Score text pairs")
    async def similarity(body: SimilarityBody) -> Response:
        service.task("similarity")
        pairs = [(body.a, body.b)] if body.pairs is None else [(p.a, p.b) for p in body.pairs]
        _check_count(len(pairs), config)
        _check_chars([t for pair in pairs for t in pair], config)
        return _reply(await service.run("similarity", None, pairs), body.pairs is None)

    @router.post("/search", response_model=SearchRecord | list[SearchRecord], summary="Search the loaded index")
    async def search(body: SearchBody) -> Response:
        service.task("search")
        queries = [body.query] if body.queries is None else body.queries
        _check_count(len(queries), config)
        _check_chars(queries, config)
        out = await service.run("search", body.top_k, queries)
        for i, record in enumerate(out):
            record["query_index"] = i  # the position in this request, not in the shared batch
        return _reply(out, body.queries is None)

    app.include_router(router)
    return app


def _check_chars(texts: list[str], config: ServeConfig) -> None:
    from nlu_toolkit.io.readers import count_chars_limit

    for text in texts:
        count_chars_limit(text, config.max_chars, path=None, line=None)


def _check_qa(items: list[dict[str, Any]], config: ServeConfig) -> None:
    from nlu_toolkit.errors import InputError

    for item in items:
        for key in ("question", "context"):
            if not item[key].strip():
                raise InputError(f"record {item['id']!r} has an empty {key}", f"give every record a non-empty {key!r}")
        _check_chars([item["question"], item["context"]], config)


def run_server(app: FastAPI, config: ServeConfig, *, log_level: str = "info", access_log: bool = False) -> None:
    """Serve ``app`` with uvicorn until SIGINT/SIGTERM, then drain in-flight requests and stop."""
    import uvicorn

    uvicorn.run(
        app,
        host=config.host,
        port=config.port,
        log_level=log_level,
        access_log=access_log,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        server_header=False,
    )


def _swagger_assets() -> str | None:
    """The folder of Swagger UI's files from the swagger-ui-bundle package, if installed."""
    try:
        import swagger_ui_bundle
    except ImportError:
        return None
    return str(swagger_ui_bundle.swagger_ui_path)


def _local_docs(app: Any, folder: str) -> None:
    """Serve /docs with Swagger UI's scripts from this server instead of a CDN (offline-first)."""
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles

    app.mount(DOCS_ASSETS, StaticFiles(directory=folder), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> Any:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="nlu_toolkit API",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
        )
