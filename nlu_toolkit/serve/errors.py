"""The API's one error shape, ``{"error", "hint"}``, and the handlers that answer with it."""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from nlu_toolkit.errors import MissingExtra, ModelNotAvailable, NluError, name_params
from nlu_toolkit.io.writers import dumps
from nlu_toolkit.serve.config import SERVE_TASKS

log = logging.getLogger("nlu_toolkit.serve")

SCHEMA_HINT = "see the request schema at /docs (or /openapi.json)"
JSON_HINT = 'send a JSON object, e.g. {"text": ...}'

# -- errors ---------------------------------------------------------------------------------


class ApiError(Exception):
    """An error answered as ``{"error", "hint"}`` with ``status``."""

    def __init__(self, status: int, error: str, hint: str | None = None) -> None:
        super().__init__(error)
        self.status, self.error, self.hint = status, error, hint


def field_name(param: str) -> str:
    """How an error names a library parameter in an HTTP answer: as the request field, quoted."""
    return f"'{param}'"


def request_words(e: NluError) -> tuple[str, str | None]:
    """``(message, hint)`` of a library error, its parameters named as request fields (``'labels'``)."""
    hint = None if e.hint_template is None else name_params(e.hint_template, field_name)
    return name_params(e.template, field_name), hint


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


def error_response(status: int, error: str, hint: str | None = None, headers: dict[str, str] | None = None) -> Response:
    """The one error shape; the message is one line of valid Unicode whatever the request held."""
    content = {"error": _printable(error.replace("\n", " ")), "hint": None if hint is None else _printable(hint)}
    return NluJSONResponse(content, status_code=status, headers=headers)


def _printable(text: str) -> str:
    # A field name or value quoted from the request may hold a lone surrogate: it cannot be
    # encoded as UTF-8, so it is shown as U+FFFD rather than failing the error response itself.
    return _SURROGATE.sub("\ufffd", text)


_SURROGATE = re.compile("[\ud800-\udfff]")


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
        return error_response(
            400, f"the request body is not valid JSON ({reason})", 'send a JSON object, e.g. {"text": ...}'
        )
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
    return error_response(422, message, SCHEMA_HINT)


def install_error_handlers(app: FastAPI) -> None:
    endpoints = ", ".join(f"POST /{t}" for t in SERVE_TASKS) + ", GET /health, GET /models"

    @app.exception_handler(ApiError)
    async def _api(_: Request, e: ApiError) -> Response:
        return error_response(e.status, e.error, e.hint)

    @app.exception_handler(NluError)
    async def _nlu(_: Request, e: NluError) -> Response:
        status = status_for(e)
        if status == 500:
            log.error("request failed: %s", e)
        return error_response(status, *request_words(e))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, e: RequestValidationError) -> Response:
        return _validation_error(list(e.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, e: StarletteHTTPException) -> Response:
        if e.status_code == 404:
            return error_response(404, f"no endpoint {request.method} {request.url.path}", f"endpoints: {endpoints}")
        if e.status_code == 405:
            # Starlette names the route's methods in the exception's Allow header (RFC 9110: a 405 must).
            return error_response(
                405,
                f"{request.method} is not allowed on {request.url.path}",
                SCHEMA_HINT,
                headers=dict(e.headers or {}),
            )
        # 400 here: FastAPI could not parse the body at all (e.g. JSON nested too deep for its parser).
        hint = JSON_HINT if e.status_code == 400 else None
        return error_response(e.status_code, str(e.detail), hint, headers=dict(e.headers or {}))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, e: Exception) -> Response:
        log.exception("request failed")  # the traceback goes to the server log, never to the client
        return error_response(500, f"unexpected {type(e).__name__}: {e}", "the server log has the details")
