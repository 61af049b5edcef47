"""The HTTP API: FastAPI routes over a `Service`, with one JSON error shape.

Request shapes (the answer has the shape of the question):

* ``{"text": ...}`` (``/classify``, ``/ner``, ``/embed``), ``{"query": ...}`` (``/search``),
  ``{"question", "context"}`` (``/qa``), ``{"a", "b"}`` (``/similarity``) -> one record;
* ``{"texts": [...]}``, ``{"queries": [...]}``, ``{"records": [...]}``, ``{"pairs": [...]}``
  -> a JSON array of records, in request order, what ``nlu <task> --format json`` prints.

Records are the library's ``to_dict()`` (see `nlu_toolkit.records`). Every error is
``{"error": ..., "hint": ...}``: 400 bad JSON or bad HTTP, 401 API key, 404/405 no such
endpoint (a 405 names the allowed methods in ``Allow``), 413 body, list, labels or texts x
labels too large, 422 a field missing or of the wrong type or unusable input (a string over
``max_chars`` or holding a lone surrogate, in any field), 503 the task's model is not
loaded, 500 anything else (one line; the traceback goes to the server log only). Every
limit is checked before the work is queued (`nlu_toolkit.serve.limits`).

This module imports FastAPI at the top: import it through `nlu_toolkit.serve`, which
checks the ``serve`` extra first.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import Response
from fastapi.security import HTTPBearer

from nlu_toolkit._version import __version__
from nlu_toolkit.errors import UsageError
from nlu_toolkit.serve.config import ServeConfig
from nlu_toolkit.serve.errors import ApiError, NluJSONResponse, install_error_handlers, request_words
from nlu_toolkit.serve.guard import DOCS_ASSETS, Guard
from nlu_toolkit.serve.limits import (
    check_body,
    check_count,
    check_labels,
    check_qa,
    text_records,
)
from nlu_toolkit.serve.metrics import install_metrics
from nlu_toolkit.serve.openai_routes import install_openai_routes
from nlu_toolkit.serve.schemas import (
    ERRORS,
    Classification,
    ClassifyBody,
    EmbedBody,
    EmbeddingRecord,
    NerRecord,
    QaAnswer,
    QaBody,
    SearchBody,
    SearchRecord,
    SimilarityBody,
    SimilarityRecord,
    TextsBody,
    publish_limits,
)
from nlu_toolkit.serve.service import Service
from nlu_toolkit.serve.tasks import PER_DOCUMENT, RANKED, ranking_of
from nlu_toolkit.serve.tei_routes import TEI_ERRORS, install_tei_routes, tei_embed

#: Seconds that requests in flight get to finish after SIGTERM before the server stops anyway.
GRACEFUL_SHUTDOWN_S = 30


# -- the app --------------------------------------------------------------------------------


def _texts(body: TextsBody, config: ServeConfig, answer: type[Any]) -> list[dict[str, Any]]:
    """The records of a ``text``/``texts`` body: counted (413), then every string in the body checked (422)."""
    texts = [body.text] if body.texts is None else body.texts
    check_count(len(texts), config)
    check_body(body, config)
    return text_records(texts, config)


def _publish_limits(app: FastAPI, config: ServeConfig) -> None:
    """/openapi.json carries this server's limits (maxItems, maxLength), so it says what is accepted."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            limits = {"max_items": config.max_items, "max_labels": config.max_labels, "max_chars": config.max_chars}
            publish_limits(generate(), **limits)  # generate() caches its document in app.openapi_schema
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]


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
            service.close()  # no nlu-index-* staging folder is left in the temp dir

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
    install_error_handlers(app)
    _publish_limits(app, config)
    app.add_middleware(Guard, api_key=config.api_key, max_body_bytes=config.max_body_bytes)  # type: ignore[arg-type]
    install_metrics(app, service)  # GET /metrics; its middleware wraps the guard, so 401/413 count too
    install_openai_routes(app, service, config)  # /v1/embeddings, /v1/models; OpenAI's error shape on /v1

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
        records = _texts(body, config, Classification)
        try:
            labels = parse_labels(body.labels)
        except UsageError as e:
            raise ApiError(422, request_words(e)[0], 'e.g. "labels": ["sports", "politics"]') from e
        if labels:
            check_labels(labels, len(records), config)
        group = (tuple(labels) if labels else None, body.multi_label)
        out = await service.run("classify", group, records)
        if body.top_k is not None:  # the same cut as Classifier(top_k=...): the best labels, in order
            out = [{**r, "labels": r["labels"][: body.top_k]} for r in out]
        return _reply(out, body.texts is None)

    @router.post("/ner", response_model=NerRecord | list[NerRecord], summary="Find named entities")
    async def ner(body: TextsBody) -> Response:
        service.task("ner")
        records = _texts(body, config, NerRecord)
        return _reply(await service.run("ner", None, records), body.texts is None)

    @router.post("/qa", response_model=QaAnswer | list[QaAnswer], summary="Answer questions about contexts")
    async def qa(body: QaBody) -> Response:
        service.task("qa")
        if body.records is None:
            items = [{"id": 0, "question": body.question, "context": body.context}]
        else:
            check_count(len(body.records), config)
            items = [
                {
                    "id": i if r.id is None else r.id,
                    "question": r.question,
                    "context": r.context,
                    **(r.model_extra or {}),
                }
                for i, r in enumerate(body.records)
            ]
        check_body(body, config)
        check_qa(items)
        return _reply(await service.run("qa", None, items), body.records is None)

    @router.post(
        "/embed",
        response_model=EmbeddingRecord | list[EmbeddingRecord] | list[list[float]],
        responses=TEI_ERRORS,
        summary="Embed texts (or TEI's inputs: a list of vectors back)",
    )
    async def embed(body: EmbedBody) -> Response:
        if body.inputs is not None:  # Hugging Face text-embeddings-inference's body
            return await tei_embed(body, service, config)
        service.task("embed")
        records = _texts(body, config, EmbeddingRecord)
        return _reply(await service.run("embed", bool(body.normalize), records), body.texts is None)

    @router.post("/similarity", response_model=SimilarityRecord | list[SimilarityRecord], summary="Score text pairs")
    async def similarity(body: SimilarityBody) -> Response:
        service.task("similarity")
        pairs = [(body.a, body.b)] if body.pairs is None else [(p.a, p.b) for p in body.pairs]
        check_count(len(pairs), config)
        check_body(body, config)
        return _reply(await service.run("similarity", None, pairs), body.pairs is None)

    @router.post("/search", response_model=SearchRecord | list[SearchRecord], summary="Search the loaded index")
    async def search(body: SearchBody) -> Response:
        task = service.task("search")
        if body.where is not None:
            task.check_where(body.where)  # type: ignore[attr-defined]
        queries = [body.query] if body.queries is None else body.queries
        check_count(len(queries), config)
        check_body(body, config)
        # Requests batch together only with the same filter: (top_k, where) is the batch's group.
        group: Any = body.top_k if body.where is None else (body.top_k, body.where)
        if body.mode != "dense":  # batched only with the same mode and fusion (nlu_toolkit.search.fusion)
            group = (RANKED, ranking_of(task, body), group)
        if body.per_document:  # batched apart from the others: one hit per document
            group = (PER_DOCUMENT, group)
        out = await service.run("search", group, queries)
        for i, record in enumerate(out):
            record["query_index"] = i  # the position in this request, not in the shared batch
        return _reply(out, body.queries is None)

    app.include_router(router)
    install_tei_routes(app, service, config)  # /rerank, /predict, /tokenize, /info, /v1/rerank
    return app


def run_server(app: FastAPI, config: ServeConfig, *, log_level: str = "info", access_log: bool = False) -> None:
    """Serve ``app`` with uvicorn until SIGINT/SIGTERM, then drain in-flight requests and stop."""
    import uvicorn

    from nlu_toolkit.serve.config import check_bind
    from nlu_toolkit.serve.protocol import json_error_protocol

    check_bind(config.host, config.port)
    uvicorn.run(
        app,
        host=config.host,
        port=config.port,
        log_level=log_level,
        access_log=access_log,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        server_header=False,
        http=json_error_protocol(),  # a request head the parser refuses gets the JSON error too
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
