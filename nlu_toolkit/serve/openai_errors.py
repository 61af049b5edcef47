"""OpenAI's error shape on the OpenAI routes: ``{"error": {"message", "type", "param", "code"}}``.

OpenAI clients read ``error.message`` (and raise a typed exception per status: 400
``BadRequestError``, 401 ``AuthenticationError``, 404 ``NotFoundError``, ...), so every answer
on ``/v1/embeddings`` and ``/v1/models`` that is not a success has this shape:

* errors raised in one of those routes (a bad body, an unknown model, token ids, a library error)
  are answered by `OpenAIRoute`, with the field at fault as ``param``; input errors are 400,
  as OpenAI answers them (the native routes say 422);
* errors answered before or around a route (the API key check: 401, the body size: 413, an
  unknown model path: 404, a wrong method: 405) come in the native ``{"error", "hint"}`` shape
  and `OpenAIErrors`, an ASGI middleware, rewrites them on the OpenAI paths (`OPENAI_PATHS`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from nlu_toolkit.errors import NluError
from nlu_toolkit.serve.errors import ApiError, NluJSONResponse, request_words, status_for

log = logging.getLogger("nlu_toolkit.serve")

#: The path prefix of the OpenAI-compatible routes.
PREFIX = "/v1"
#: The paths (and the paths under them) whose errors `OpenAIErrors` answers in OpenAI's shape: only
#: these, since other routes under /v1 (a Cohere-style /v1/rerank) speak other clients' shapes.
OPENAI_PATHS = (f"{PREFIX}/embeddings", f"{PREFIX}/models")


class OpenAIError(Exception):
    """An error answered in OpenAI's shape with ``status``."""

    def __init__(
        self, status: int, message: str, *, kind: str = "invalid_request_error", param: str | None = None,
        code: str | None = None,
    ) -> None:  # fmt: skip
        super().__init__(message)
        self.status, self.message, self.kind, self.param, self.code = status, message, kind, param, code


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorBody(BaseModel):
    """OpenAI's error body."""

    error: ErrorDetail


#: The error answers the OpenAI routes document in /openapi.json.
OPENAI_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": what}
    for status, what in (
        (400, "Invalid request: bad JSON, a field missing or of the wrong type, token-id input, unusable text"),
        (401, "Missing or wrong API key (send Authorization: Bearer KEY)"),
        (404, "No such model (code model_not_found)"),
        (413, "Body or input list too large"),
        (503, "No embedding model is served"),
    )
}


def error_body(message: str, kind: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message.replace("\n", " "), "type": kind, "param": param, "code": code}}


def openai_response(e: OpenAIError, headers: dict[str, str] | None = None) -> Response:
    return NluJSONResponse(error_body(e.message, e.kind, e.param, e.code), status_code=e.status, headers=headers)


def _words(message: str, hint: str | None) -> str:
    return message if not hint else f"{message} ({hint})"


def _param(loc: Any) -> str | None:
    parts = [str(x) for x in loc if x != "body" and not (isinstance(x, str) and "[" in x)]
    return ".".join(parts) or None


def from_validation(e: RequestValidationError) -> OpenAIError:
    """A FastAPI validation error as OpenAI answers a bad body: 400, the first field at fault as ``param``."""
    errors = list(e.errors())
    first = errors[0]
    if first.get("type") == "json_invalid":
        reason = first.get("ctx", {}).get("error", "")
        return OpenAIError(400, f"the request body is not valid JSON ({reason})", code="invalid_json")
    param = _param(first.get("loc", ()))
    texts = [
        str(x.get("msg", "invalid value")).removeprefix("Value error, ")
        for x in errors
        if _param(x.get("loc", ())) == param
    ]
    if first.get("type") == "missing":
        message = f"missing required parameter {param!r}" if param else "the request body is missing"
        return OpenAIError(400, message, param=param, code="missing_required_parameter")
    if first.get("type") == "extra_forbidden":
        return OpenAIError(400, f"unknown parameter {param!r}", param=param, code="unknown_parameter")
    detail = " or ".join(dict.fromkeys(texts))
    return OpenAIError(
        400, f"invalid value for {param!r}: {detail}" if param else detail, param=param, code="invalid_value"
    )


def from_library(e: NluError, param: str | None) -> OpenAIError:
    """A library error: input and usage errors are 400 (OpenAI's status for bad input), a missing model 503."""
    status = status_for(e)
    if status == 500:
        log.error("request failed: %s", e)
        return OpenAIError(500, _words(*request_words(e)), kind="server_error")
    if status == 503:
        return OpenAIError(503, _words(*request_words(e)), kind="server_error", code="model_not_served")
    return OpenAIError(400, _words(*request_words(e)), param=param, code="invalid_value")


class OpenAIRoute(APIRoute):
    """A route whose errors are answered in OpenAI's shape (see the module's text).

    A library error names no request field, so the route's ``param`` for them is ``input``
    (the only field that reaches the library).
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except OpenAIError as e:
                return openai_response(e)
            except RequestValidationError as e:
                return openai_response(from_validation(e))
            except ApiError as e:
                return openai_response(OpenAIError(e.status, _words(e.error, e.hint), param="input"))
            except NluError as e:
                return openai_response(from_library(e, "input"))
            except StarletteHTTPException as e:  # FastAPI could not parse the body at all (bad bytes, too deep)
                kind = "server_error" if e.status_code >= 500 else "invalid_request_error"
                code = "invalid_json" if e.status_code == 400 else _CODES.get(e.status_code)
                error = OpenAIError(e.status_code, str(e.detail), kind=kind, code=code)
                return openai_response(error, headers=dict(e.headers or {}))
            except Exception as e:
                log.exception("request failed")  # the traceback goes to the server log, never to the client
                error = OpenAIError(500, f"unexpected {type(e).__name__}: {e}", kind="server_error")
                return openai_response(error)

        return route


# -- native errors around the routes, rewritten on the OpenAI paths -----------------------------------

_CODES = {
    401: "invalid_api_key",
    404: "unknown_url",
    405: "method_not_allowed",
    413: "request_too_large",
}


class OpenAIErrors:
    """Pure ASGI middleware: an error in the native shape on an OpenAI path is answered in OpenAI's.

    Successes and answers already in OpenAI's shape pass through untouched (only the
    status line is looked at), so the routes pay nothing for it.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not any(path == p or path.startswith(p + "/") for p in OPENAI_PATHS):
            await self.app(scope, receive, send)
            return
        start: dict[str, Any] | None = None
        chunks: list[bytes] = []

        async def rewrite(message: dict[str, Any]) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                if message["status"] < 400:
                    await send(message)
                else:
                    start = message  # held until the body is known
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            status, body = start["status"], _openai_shaped(start["status"], b"".join(chunks))
            headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body, "more_body": False})
            log.debug("answered %s on %s in OpenAI's error shape", status, path)

        await self.app(scope, receive, rewrite)


def _openai_shaped(status: int, body: bytes) -> bytes:
    try:
        native = json.loads(body)
    except ValueError:
        native = None
    if isinstance(native, dict) and isinstance(native.get("error"), dict):
        return body  # already OpenAI's shape
    if isinstance(native, dict) and isinstance(native.get("error"), str):
        message = _words(native["error"], native.get("hint"))
    else:
        message = body.decode("utf-8", "replace").strip() or f"HTTP {status}"
    kind = "server_error" if status >= 500 else "invalid_request_error"
    return json.dumps(error_body(message, kind, None, _CODES.get(status)), ensure_ascii=False).encode("utf-8")
